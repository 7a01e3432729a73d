"""`trn plot`: metric curves of a job, or of every job of a sweep, into one image."""

from __future__ import annotations

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
