"""Lightning projects written for plain ``Trainer.fit``, run by trn unchanged
(tests/lightning_projects.py): Lightning's hooks in Lightning's order, the test stage after fit,
trusted checkpoints that resume after a SIGKILL, ``trn eval``, step events for a module that
logs per epoch only, a ``-inf`` mask buffer, and an objective nobody chose."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import lightning_projects
import pytest
from conftest import read_events, run_trn, wait_until
from test_faults_support import Job, runs

from trn.config.project import ENV
from trn.events.schema import validate_event

pytestmark = pytest.mark.slow

ALL = ["devices=cpu", "events.heartbeat_s=0", "trainer.deterministic=false"]
GLYPHS = ["model=glyphs", "data=glyphs", "profile=dev", *ALL]
WHOLE = ["trainer.limit_train_batches=1.0", "trainer.limit_val_batches=1.0"]
STEPS = 12  # glyphs: 384 training samples, 32 a batch


@pytest.fixture(autouse=True)
def _no_config_dir(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)


def trn(home: Path, *argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return run_trn(*argv, env={"TRN_HOME": str(home)}, cwd=cwd)


def record_of(proc: subprocess.CompletedProcess) -> dict:
    assert proc.stdout.strip(), proc.stderr[-3000:]
    return json.loads(proc.stdout)


def events_of(record: dict) -> list[dict]:
    events = read_events(Path(record["job_dir"]) / "events.jsonl")
    for event in events:
        validate_event(event)
    return events


def metrics_events(events: list[dict], phase: str) -> list[dict]:
    return [e for e in events if e["event"] == "metrics" and e["phase"] == phase]


def journal(path: Path) -> list[tuple[str, str]]:
    """``(call, pid)`` of each hook the glyphs data module noted."""
    lines = path.read_text().splitlines() if path.exists() else []
    return [(line.rsplit(" pid=", 1)[0], line.rsplit(" pid=", 1)[1]) for line in lines]


def assert_lightning_order(calls: list[tuple[str, str]]) -> None:
    """Per process: prepare_data before any setup, and setup('fit') once."""
    for pid in {p for _, p in calls}:
        mine = [c for c, p in calls if p == pid]
        assert mine[0] == "prepare_data", mine
        assert mine.count("setup fit") == 1, mine


@pytest.fixture(scope="module")
def glyphs_job(tmp_path_factory) -> dict:
    """One glyphs job, trained to the end with the csv logger, on data it had to prepare."""
    base = tmp_path_factory.mktemp("glyphs")
    root = lightning_projects.glyphs(base / "project")
    home, data = base / "home", base / "fresh-machine" / "glyphs"
    proc = trn(
        home, "run", "-cd", str(root / "conf"), *GLYPHS, *WHOLE, "trainer.max_epochs=3",
        f"data.data_dir={data}", f"+data.journal={base / 'journal'}", "logger=csv",
        "checkpoint.every_n_epochs=1", "checkpoint.save_best=true", "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {"record": record_of(proc), "home": home, "root": root, "base": base}


def test_a_project_for_plain_lightning_runs_there_too(tmp_path):
    """The projects run under a plain Trainer as they are (trn's runs below change nothing)."""
    for make in (lightning_projects.glyphs, lightning_projects.tinylm):
        root = make(tmp_path / make.__name__)
        done = subprocess.run(
            [sys.executable, "train.py", str(tmp_path / f"{make.__name__}-data")],
            cwd=root, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        assert "'test/loss'" in done.stdout


def test_its_data_is_prepared_then_set_up_by_lightning_and_its_test_stage_runs(glyphs_job):
    record = glyphs_job["record"]
    assert record["state"] == "completed"
    calls = journal(glyphs_job["base"] / "journal")
    # one process: prepare_data, setup fit (training), prepare_data, setup test (the test stage)
    assert [c for c, _ in calls] == ["prepare_data", "setup fit", "prepare_data", "setup test"]
    assert_lightning_order(calls)

    events = events_of(record)
    (tested,) = metrics_events(events, "test")
    assert set(tested["metrics"]) == {"test/loss", "test/acc"}
    assert record["metrics"]["test/acc"] == tested["metrics"]["test/acc"] > 0.5
    # tested on the best checkpoint by its objective (trn's default, val/acc: it logs it)
    assert record["objective"] == {"metric": "val/acc", "mode": "max", "source": "default"}
    ckpts = Path(record["job_dir"]) / "checkpoints"
    assert (ckpts / "best.json").exists()
    assert json.loads((Path(record["job_dir"]) / "outcome.json").read_text())["tested"] == str(
        ckpts / json.loads((ckpts / "best.json").read_text())["meta"].replace(".meta.json", ".ckpt")
    )
    # the loggers get the test metrics too
    with open(Path(record["job_dir"]) / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert any(row.get("test/acc") for row in rows)

    home = glyphs_job["home"]
    listed = trn(home, "list")
    assert "test/acc=" in listed.stdout
    status = trn(home, "status", record["job_id"])
    assert "test/acc=" in status.stdout and "objective:     val/acc (max), trn's default" in (
        status.stdout
    )


def test_a_module_that_logs_per_epoch_only_still_has_step_events(glyphs_job):
    steps = metrics_events(events_of(glyphs_job["record"]), "train")
    assert len(steps) == 3 * STEPS // 4  # profile=dev: an event every 4 steps
    for event in steps:
        assert set(event["metrics"]) == {"lr"} and event["metrics"]["lr"] > 0
        assert event["samples_per_s"] > 0  # 4 batches of 32 since the last one
        assert "tokens_per_s" not in event  # images and labels: no tokens


def test_eval_tests_a_jobs_best_checkpoint_as_a_job_of_its_own(glyphs_job):
    home, trained = glyphs_job["home"], glyphs_job["record"]
    proc = trn(home, "eval", trained["job_id"], "--json", cwd=Path("/"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    evaluated = record_of(proc)
    assert evaluated["state"] == "completed" and evaluated["kind"] == "eval"
    assert evaluated["evaluates"]["job_id"] == trained["job_id"]
    assert evaluated["evaluates"]["stage"] == "test"
    # the same checkpoint the test stage used, the same numbers
    assert evaluated["metrics"]["test/acc"] == pytest.approx(trained["metrics"]["test/acc"])
    (tested,) = metrics_events(events_of(evaluated), "test")
    assert tested["metrics"] == evaluated["metrics"]
    started = next(e for e in events_of(evaluated) if e["event"] == "job_started")
    assert started["evaluates"] == evaluated["evaluates"]

    validated = record_of(trn(home, "eval", trained["job_id"], "--stage", "validate", "--json"))
    assert validated["state"] == "completed" and "val/acc" in validated["metrics"]
    assert "test/acc" not in validated["metrics"]

    evals = json.loads(trn(home, "list", "--kind", "eval", "--json").stdout)
    assert [r["job_id"] for r in evals] == [validated["job_id"], evaluated["job_id"]]
    trains = json.loads(trn(home, "list", "--kind", "train", "--json").stdout)
    assert [r["job_id"] for r in trains] == [trained["job_id"]]
    table = trn(home, "list", "--kind", "eval").stdout
    assert f"eval {trained['job_id']} (test)" in table and "test/acc=" in table


def test_eval_refuses_what_it_cannot_evaluate_before_any_job_exists(glyphs_job, tmp_path):
    home, trained = glyphs_job["home"], glyphs_job["record"]
    before = set(runs(home))
    text = tmp_path / "notes.ckpt.txt"
    text.write_text("not a checkpoint\n")
    bare = tmp_path / "bare.ckpt"
    bare.write_bytes(b"PK\x03\x04")
    cases = {
        (str(text),): f"{text}: not a trn checkpoint; give a job id",
        (str(bare),): "bare.ckpt: a .ckpt without its bare.meta.json, so not a trn checkpoint",
        (trained["job_id"], "model.net.hidden=8"): "does not fit model._target_=glyphs.module."
        "GlyphClassifier as the overrides configure it (net.layers.0.weight is [32, 16] in the "
        "checkpoint, [8, 16] in the model)",
    }
    for argv, says in cases.items():
        proc = trn(home, "eval", *argv)
        assert proc.returncode == 2, (argv, proc.stdout, proc.stderr)
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert says in proc.stderr, proc.stderr
    assert set(runs(home)) == before


def test_eval_of_a_checkpoint_whose_job_dir_is_gone(tmp_path):
    home = tmp_path / "home"
    root = lightning_projects.glyphs(tmp_path / "project")
    proc = trn(
        home, "run", "-cd", str(root / "conf"), *GLYPHS, "trainer.max_epochs=1",
        f"data.data_dir={tmp_path / 'data'}", "test=false", "--json",
    )  # fmt: skip
    trained = record_of(proc)
    assert trained["state"] == "completed", trained.get("error")
    assert not metrics_events(events_of(trained), "test")  # test=false: no test stage
    meta = trained["checkpoint"]
    import shutil

    shutil.rmtree(trained["job_dir"])
    for target, says in (
        (trained["job_id"], f"job {trained['job_id']}'s dir {trained['job_dir']} is gone"),
        (meta, f"{meta}: no such checkpoint (is its job dir gone?)"),
    ):
        proc = trn(home, "eval", target)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
        assert says in proc.stderr
    assert runs(home) == []


def test_a_test_step_that_raises_fails_the_job_and_keeps_the_fit(tmp_path):
    home = tmp_path / "home"
    root = lightning_projects.glyphs(tmp_path / "project")
    proc = trn(
        home, "run", "-cd", str(root / "conf"), *GLYPHS, "trainer.max_epochs=2",
        f"data.data_dir={tmp_path / 'data'}", "+model.fail_test=true", "--json",
    )  # fmt: skip
    assert proc.returncode == 1
    record = record_of(proc)
    assert record["state"] == "failed"
    assert record["error"] == "test stage failed: RuntimeError: the test set is unreadable"
    assert "val/acc" in record["metrics"] and not any(
        k.startswith("test/") for k in record["metrics"]
    )
    ckpts = Path(record["job_dir"]) / "checkpoints"
    assert record["checkpoint"] and Path(record["checkpoint"]).exists()
    assert (ckpts / "latest.json").exists() and list(ckpts.glob("*-end.ckpt"))
    events = events_of(record)
    assert events[-1]["event"] == "job_failed" and events[-1]["error"] == record["error"]


def test_glyphs_is_killed_mid_epoch_and_resumed_from_its_trusted_checkpoint(tmp_path):
    """Its checkpoints pickle its DenseNet and its optimizer's partials (save_hyperparameters):
    trusted through the project's allow_targets, they resume."""
    home = tmp_path / "home"
    root = lightning_projects.glyphs(tmp_path / "project")
    notes = tmp_path / "journal"
    argv = [
        "-cd", str(root / "conf"), *GLYPHS, *WHOLE, "trainer.max_epochs=3",
        f"data.data_dir={tmp_path / 'fresh' / 'glyphs'}", f"+data.journal={notes}",
        "checkpoint.every_n_steps=5", "checkpoint.keep_last=4", "events.metrics_every_n_steps=1",
        "events.flush_s=0",
    ]  # fmt: skip
    job = Job(home, "run", *argv)
    job.wait_step(STEPS + 6)  # epoch 1; the step-15 checkpoint is mid-epoch
    job.sigkill_all()
    killed = job.record()
    latest = json.loads((job.dir / "checkpoints" / "latest.json").read_text())["meta"]
    step = json.loads((job.dir / "checkpoints" / latest).read_text())["step"]
    assert step % STEPS, f"the newest checkpoint ({latest}) should be mid-epoch"

    resumed = Job(home, "resume", killed["job_id"]).finish()
    assert resumed["state"] == "completed", resumed
    assert resumed["parent_job_id"] == killed["job_id"] and resumed["resume_exact"] is False
    assert {"test/acc", "test/loss", "val/acc", "val/acc_best"} <= set(resumed["metrics"])
    events = events_of(resumed)
    first = metrics_events(events, "train")[0]
    assert first["step"] == step + 1 and set(first["metrics"]) == {"lr"}
    assert_lightning_order(journal(notes))  # both processes: Lightning's order, each once

    evaluated = record_of(trn(home, "eval", resumed["job_id"], "--json"))
    assert evaluated["state"] == "completed" and "test/acc" in evaluated["metrics"]


def test_a_checkpoint_naming_an_untrusted_class_is_refused_at_plan_time(tmp_path):
    """Its network holds a layer of another package (extnets) that the project does not trust:
    resume, weights= and eval refuse the checkpoint before a job exists, naming the class, the
    file and the line that would trust it; trusting it on the command line resumes it."""
    home = tmp_path / "home"
    root = lightning_projects.glyphs(tmp_path / "project")
    conf = ["-cd", str(root / "conf")]
    proc = trn(
        home, "run", *conf, *GLYPHS, "trainer.max_epochs=1", f"data.data_dir={tmp_path / 'd'}",
        "+model.net.scaled=true", "test=false", "--json",
    )  # fmt: skip
    trained = record_of(proc)
    assert trained["state"] == "completed", trained.get("error")
    meta = Path(trained["checkpoint"])
    ckpt = meta.with_name(meta.name.replace(".meta.json", ".ckpt"))
    pyproject = root / "pyproject.toml"
    fix = f'if you trust it, add allow_targets = ["extnets."] to [tool.trn] in {pyproject}'
    before = set(runs(home))
    for argv, label in (
        (["resume", trained["job_id"], "trainer.max_epochs=2"], f"checkpoint {ckpt}"),
        (["eval", trained["job_id"]], f"checkpoint {ckpt}"),
        (["run", *conf, *GLYPHS, "+model.net.scaled=true", f"weights={meta}"],
         f"weights={meta} ({ckpt.name})"),
    ):  # fmt: skip
        proc = trn(home, *argv, cwd=root)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.strip().splitlines() == [
            f"trn {argv[0]}: error: {label}: its pickle asks for extnets.Scale, which is not "
            f"trusted; {fix}"
        ]
    assert set(runs(home)) == before
    proc = trn(
        home, "resume", trained["job_id"], "trainer.max_epochs=2",
        "allow_targets=[glyphs.,extnets.]", "--json",
    )  # fmt: skip
    assert record_of(proc)["state"] == "completed", proc.stderr[-3000:]


def test_a_transformer_with_an_infinite_mask_trains_resumes_and_falls_back_to_val_loss(tmp_path):
    """tinylm: a persistent -inf causal mask buffer (checkpointed as it is), val/loss and
    val/ppl but no val/acc (trn's default objective falls back), a test_step."""
    home = tmp_path / "home"
    root = lightning_projects.tinylm(tmp_path / "project")
    argv = [
        "-cd", str(root / "conf"), "model=tinylm", "data=chars", "profile=dev", *ALL,
        "trainer.max_epochs=8", f"data.data_dir={tmp_path / 'fresh' / 'chars'}",
        "checkpoint.every_n_steps=3", "checkpoint.keep_last=4", "checkpoint.save_best=true",
        "events.metrics_every_n_steps=1", "events.flush_s=0",
    ]  # fmt: skip
    job = Job(home, "run", *argv)
    job.wait_step(11)  # epoch 1 (8 steps an epoch)
    # the supervisor has read the fallback (the runner said it at the first validation's end)
    wait_until(lambda: job.record()["objective"]["source"] == "fallback", "the fallback")
    job.sigkill_all()
    killed = job.record()
    assert killed["objective"] == {"metric": "val/loss", "mode": "min", "source": "fallback"}
    warned = [w for w in killed["warnings"] if w.startswith("objective.metric=val/acc")]
    assert warned and "ranking by val/loss (min)" in warned[0]

    from trn.checkpoints.load import load_checkpoint

    latest = (
        job.dir
        / "checkpoints"
        / json.loads((job.dir / "checkpoints/latest.json").read_text())["meta"]
    )
    state = load_checkpoint(latest)[1]["state_dict"]
    assert float(state["mask"][0, 1]) == float("-inf")  # the buffer as it is, -inf and all

    resumed = Job(home, "resume", killed["job_id"]).finish()
    assert resumed["state"] == "completed", resumed
    assert resumed["objective"] == killed["objective"]
    assert {"test/loss", "test/ppl"} <= set(resumed["metrics"])
    steps = metrics_events(events_of(resumed), "train")
    assert steps and all({"train/loss", "lr"} <= set(e["metrics"]) for e in steps)
    # its batches are (inputs, targets) of token ids, 16 a sample: the speed in tokens too
    paced = [e for e in steps if "samples_per_s" in e]
    assert paced and all(e["tokens_per_s"] == pytest.approx(16 * e["samples_per_s"], rel=1e-3)
                         for e in paced)  # fmt: skip
    # best by the fallback: the least val/loss among this job's checkpoints
    saved = [
        e
        for e in events_of(resumed)
        if e["event"] == "checkpoint_saved" and "val/loss" in e["metrics"]
    ]
    best = min(saved, key=lambda e: e["metrics"]["val/loss"])
    ckpts = Path(resumed["job_dir"]) / "checkpoints"
    assert json.loads((ckpts / "best.json").read_text())["meta"] == Path(best["meta_path"]).name
    best_cli = trn(home, "best", "--json")
    assert json.loads(best_cli.stdout)["metric"] == "val/loss", best_cli.stderr

    evaluated = record_of(trn(home, "eval", resumed["job_id"], "--json"))
    assert evaluated["state"] == "completed" and {"test/loss", "test/ppl"} <= set(
        evaluated["metrics"]
    )


def test_an_early_stopping_on_the_default_objective_follows_its_fallback(tmp_path):
    """tinylm never logs val/acc: trn's early_stopping callback (monitor ${objective.metric})
    watches val/loss, lower better, once the default falls back at the first validation."""
    home = tmp_path / "home"
    root = lightning_projects.tinylm(tmp_path / "project")
    proc = trn(
        home, "run", "-cd", str(root / "conf"), "model=tinylm", "data=chars", "profile=dev",
        *ALL, "trainer.max_epochs=3", f"data.data_dir={tmp_path / 'fresh' / 'chars'}",
        "callbacks=early_stopping", "+callbacks.early_stopping.stopping_threshold=1000.0",
        "--json",
    )  # fmt: skip
    record = record_of(proc)
    assert record["state"] == "completed", proc.stderr[-3000:]
    assert record["objective"] == {"metric": "val/loss", "mode": "min", "source": "fallback"}
    # below the threshold at once: a min-mode stop on val/loss after the first epoch
    assert "val/loss" in record["stop_reason"] and "<" in record["stop_reason"], record
    epochs = {e["epoch"] for e in metrics_events(events_of(record), "epoch")}
    assert epochs == {0}, epochs
