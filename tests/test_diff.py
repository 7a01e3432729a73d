"""`trn diff` over job dirs written directly: sections, --all, --json, and every bad input."""

from __future__ import annotations

import json

import pytest
from prov_support import write_job

from trn.registry.store import Registry

CONFIG = {
    "seed": 0,
    "optimizer": {"_target_": "torch.optim.AdamW", "lr": 0.001, "betas": [0.9, 0.999]},
    "trainer": {"max_epochs": 2, "precision": "32-true"},
}


def env(**packages: str) -> dict:
    return {"schema": "trn.environment/1", "packages": packages}


def code(commit: str, dirty: bool, sha: str | None = None) -> dict:
    return {
        "commit": commit,
        "branch": "main",
        "remote": None,
        "dirty": dirty,
        "patch": "code.patch" if dirty else None,
        "patch_sha256": sha,
        "untracked": [],
    }


@pytest.fixture
def two_jobs(trn_home):
    registry = Registry()
    other = {
        **CONFIG,
        "optimizer": {**CONFIG["optimizer"], "lr": 0.003},
        "trainer": {"max_epochs": 2},
        "extra": {"note": "new key"},
    }
    sides = [
        (CONFIG, "aaaa", 0.5, env(numpy="2.0", torch="2.13.0", old="1"), code("a" * 40, False)),
        (
            other,
            "bbbb",
            0.75,
            env(numpy="2.1", torch="2.13.0", new="3"),
            code("b" * 40, True, "c" * 64),
        ),
    ]
    a, b = (
        write_job(
            registry,
            config,
            now=1_700_000_000 + 100 * i,
            sweep_id=f"261201-000000-{sweep}",
            metrics={"val/acc": acc, "val/loss": 1.0},
            files={"environment.json": environment},
            extra={"code": job_code},
        )
        for i, (config, sweep, acc, environment, job_code) in enumerate(sides)
    )
    return a, b


def test_only_what_differs_in_override_syntax(cli, two_jobs):
    a, b = two_jobs
    rc, out, err = cli("diff", a["job_id"], b["job_id"])
    assert rc == 0, err
    config = out.split("config:\n")[1].split("\ncode:")[0].splitlines()
    assert config == [
        "  optimizer.lr: 0.001 -> 0.003",
        "  trainer.precision: 32-true -> (absent)",
        "  extra.note: (absent) -> 'new key'",
    ]
    assert "  commit: aaaaaaaaaaaa -> bbbbbbbbbbbb" in out and "  dirty: false -> true" in out
    assert (
        "  numpy: 2.0 -> 2.1" in out
        and "  old: 1 -> (absent)" in out
        and "  new: (absent) -> 3" in out
    )
    assert "torch" not in out and "val/loss" not in out  # the same: not shown
    assert "  val/acc: 0.5 -> 0.75  (+0.25)" in out


def test_all_shows_what_is_the_same_and_json_has_every_section(cli, two_jobs):
    a, b = two_jobs
    _, out, _ = cli("diff", a["job_id"], b["job_id"], "--all")
    assert "  seed: 0" in out and "  torch: 2.13.0" in out and "  val/loss: 1\n" in out
    _, out, _ = cli("diff", a["job_id"], b["job_id"], "--json")
    result = json.loads(out)
    assert result["a"]["sweep_id"] != result["b"]["sweep_id"]
    metrics = {m["key"]: m for m in result["metrics"]}
    assert metrics == {
        "val/acc": {"key": "val/acc", "a": 0.5, "b": 0.75, "status": "changed", "change": 0.25}
    }
    assert {p["key"]: p["status"] for p in result["packages"]} == {
        "numpy": "changed",
        "old": "removed",
        "new": "added",
    }


def test_jobs_without_provenance_say_so(cli, trn_home):
    registry = Registry()
    a = write_job(registry, CONFIG, now=1_700_000_000)
    b = write_job(registry, CONFIG, now=1_700_000_001)
    rc, out, _ = cli("diff", a["job_id"], b["job_id"])
    assert rc == 0
    assert "config: same" in out and "code: not recorded for A and B" in out


@pytest.mark.parametrize(
    "argv, code, message",
    [
        ((), 2, "give two jobs to compare: trn diff A B (got none)"),
        (("ONE",), 2, "give two jobs to compare: trn diff A B (got 1)"),
        (("A", "A"), 2, "are the same job"),
        (("A", "261201-9"), 1, "no job '261201-9'"),
        (("A", "2311"), 2, "is ambiguous"),
        (("A", "B/.."), 2, ""),
    ],
)
def test_bad_input_is_one_line(cli, two_jobs, argv, code, message):
    a, _ = two_jobs
    argv = tuple(a["job_id"] if x in ("A", "ONE") else x for x in argv)
    rc, out, err = cli("diff", *argv)
    assert rc == code and err.count("\n") == 1 and message in err, err
    assert out == ""


def test_diff_best_and_sorted_list_import_no_torch_lightning_or_hydra(two_jobs):
    import subprocess
    import sys

    a, b = two_jobs
    code = (
        "import sys; from trn.cli.main import main;"
        f"main(['diff', {a['job_id']!r}, {b['job_id']!r}]);"
        "main(['best', '--metric', 'val/acc', '--mode', 'max']);"
        "main(['list', '--sort', 'val/acc', '--columns', 'optimizer.lr,trainer.max_epochs']);"
        "bad = [m for m in ('torch', 'lightning', 'hydra') if m in sys.modules];"
        "print('HEAVY', bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0 and "HEAVY []" in proc.stdout, proc.stdout + proc.stderr
    assert "optimizer.lr: 0.001 -> 0.003" in proc.stdout and a["job_id"] in proc.stdout
