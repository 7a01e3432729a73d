"""`trn plot`: metric curves of a job, or of every job of a sweep, into one image."""

from __future__ import annotations

from dataclasses import replace

import pytest
from test_logs import make_job

pytest.importorskip("matplotlib", reason="matplotlib missing: pip install 'trn[plot]'")


def test_plot_one_job(trn_home, cli, tmp_path):
    job_id, _ = make_job(trn_home)
    out = tmp_path / "job.png"
    code, stdout, err = cli("plot", job_id[:15], "-o", str(out))
    assert code == 0, err
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and stdout.strip() == str(out)


def test_plot_every_job_of_a_sweep_in_one_figure(trn_home, cli, tmp_path):
    for _ in range(3):
        make_job(trn_home, sweep_id="261128-000000-swp1")
    out = tmp_path / "sub" / "sweep.png"
    code, _, err = cli("plot", "261128-000000-swp1", "--metric", "train/loss", "-o", str(out))
    assert code == 0, err
    assert out.stat().st_size > 1000


def test_plot_names_what_is_missing(trn_home, cli, tmp_path):
    job_id, _ = make_job(trn_home)
    code, _, err = cli("plot", job_id, "--metric", "val/nope", "-o", str(tmp_path / "x.png"))
    assert code == 2 and "no metric val/nope" in err and "train/loss" in err
    code, _, err = cli("plot", "991231-000000-none")
    assert code == 1 and "no job or sweep" in err


def test_a_resumed_job_is_drawn_as_its_whole_chain(trn_home):
    """The parent's points up to the step the child resumed from (its later ones were thrown away
    by the resume), then the child's; the resume steps are where the panels get a dashed line."""
    from trn.cli.cmd_plot import chain_curves
    from trn.events.writer import EventWriter
    from trn.registry.store import Registry

    parent_id, _ = make_job(trn_home, n_steps=6)  # steps 1..6; the child resumes from step 4
    child_id, child_dir = make_job(trn_home, n_steps=0, state="running")
    registry = Registry(trn_home)
    registry.write(replace(registry.load(child_dir), parent_job_id=parent_id, attempt=2))
    w = EventWriter(child_dir, child_id, source="runner")
    for step in range(5, 9):
        w.emit("metrics", phase="train", step=step, epoch=1, metrics={"train/loss": 0.1})
    w.close()

    curves, resumes = chain_curves(registry.find(child_id), registry)
    assert resumes == [4]  # the child's first step, less one (no resume checkpoint to read)
    assert [s for s, _ in curves["train/loss"]] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert [v for s, v in curves["train/loss"] if s > 4] == [
        0.1
    ] * 4  # the child's, not the parent's


def test_every_logged_metric_is_drawn_by_default_in_panels_of_a_kind(
    trn_home, cli, tmp_path, monkeypatch
):
    from trn.cli import cmd_plot
    from trn.cli.cmd_plot import panels
    from trn.events.writer import EventWriter

    assert panels(["lr", "train/loss", "val/acc", "val/loss", "val/ppl"]) == {
        "lr": ["lr"],
        "loss": ["train/loss", "val/loss"],
        "acc": ["val/acc"],
        "ppl": ["val/ppl"],
    }
    job_id, job_dir = make_job(trn_home)
    w = EventWriter(job_dir, job_id, source="runner")
    w.emit("metrics", phase="epoch", step=3, epoch=0, metrics={"val/ppl": 7.5, "val/loss": 2.0})
    w.close()
    drawn = {}
    monkeypatch.setattr(cmd_plot, "draw", lambda series, groups, *a, **k: drawn.update(groups))
    code, _, err = cli("plot", job_id, "-o", str(tmp_path / "all.png"))
    assert code == 0, err
    assert drawn == {"loss": ["train/loss", "val/loss"], "ppl": ["val/ppl"]}
