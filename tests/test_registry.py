"""Job records, the SQLite index as a rebuildable cache, ids and prefixes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from trn.errors import NotFound, UsageError
from trn.ids import BadJobId, check_job_id, new_id
from trn.registry.record import JobRecord, effective_state
from trn.registry.store import Registry


def make_jobs(registry: Registry, n: int, **fields) -> list[JobRecord]:
    out = []
    for i in range(n):
        job_id, job_dir = registry.create_job_dir(now=1_700_000_000 + i)
        record = JobRecord(job_id=job_id, job_dir=str(job_dir), **fields)
        registry.write(record)
        out.append(record)
    return out


def test_ids_are_sortable_and_safe():
    a, b = new_id(1_700_000_000), new_id(1_700_000_001)
    assert a < b and all(c.isalnum() or c == "-" for c in a)
    for bad in ["a/b", "..", "../x", "", "UPPER", "-x", "a b"]:
        with pytest.raises(BadJobId):
            check_job_id(bad)


def test_concurrent_job_dirs_never_collide(trn_home):
    registry = Registry()
    ids = {registry.create_job_dir(now=1_700_000_000)[0] for _ in range(200)}
    assert len(ids) == 200


def test_write_then_find_by_prefix(trn_home):
    registry = Registry()
    (job,) = make_jobs(registry, 1)
    assert (
        json.loads((trn_home / "runs").rglob("job.json").__next__().read_text())["job_id"]
        == job.job_id
    )
    assert registry.find(job.job_id[:10])["job_id"] == job.job_id


def test_ambiguous_and_unknown_prefixes(trn_home):
    registry = Registry()
    make_jobs(registry, 2)
    with pytest.raises(UsageError, match="ambiguous"):
        registry.find("2311")
    with pytest.raises(NotFound, match="no job 'zzz'"):
        registry.find("zzz")
    with pytest.raises(UsageError, match="invalid job id"):
        registry.find("../etc")


def test_list_newest_first_with_filters(trn_home):
    registry = Registry()
    jobs = make_jobs(registry, 5)
    done = make_jobs(registry, 2, state="completed", sweep_id="sw1")
    listed = registry.list(limit=3)
    assert [r["job_id"] for r in listed] == sorted((j.job_id for j in jobs + done), reverse=True)[
        :3
    ]
    assert {r["job_id"] for r in registry.list(state="completed")} == {j.job_id for j in done}
    assert len(registry.list(sweep_id="sw1")) == 2


def test_index_is_a_cache_rebuilt_from_job_dirs(trn_home):
    registry = Registry()
    jobs = make_jobs(registry, 3)
    registry.index.close()
    (trn_home / "index.db").unlink()
    for extra in ("index.db-wal", "index.db-shm"):
        (trn_home / extra).unlink(missing_ok=True)
    fresh = Registry()  # no index: rebuilt on first use
    assert {r["job_id"] for r in fresh.list()} == {j.job_id for j in jobs}
    assert fresh.reindex() == 3


def test_running_job_whose_supervisor_is_gone_is_lost(trn_home):
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    record = JobRecord(job_id="x", job_dir="/nowhere", state="running", pid=proc.pid).to_dict()
    assert effective_state(record) == "lost"
    record["pid"] = os.getpid()
    assert effective_state(record) == "running"
    record["state"] = "completed"
    assert effective_state(record) == "completed"


def test_a_home_that_is_a_file_is_one_usage_error_for_every_command(cli, tmp_path, monkeypatch):
    home = tmp_path / "home.txt"
    home.write_text("not a directory")
    monkeypatch.setenv("TRN_HOME", str(home))
    for argv in (["list"], ["status", "x"], ["events"], ["reindex"], ["run", "profile=dev"]):
        code, _, err = cli(*argv)
        assert code == 2 and err.count("\n") == 1, (argv, err)
        assert f"TRN_HOME={home} is not a directory; set TRN_HOME to a directory" in err
    assert home.read_text() == "not a directory"


def test_a_home_that_cannot_be_made_stops_a_run_before_anything_starts(cli, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("TRN_HOME", str(blocker / "home"))
    code, _, err = cli("run", "profile=dev")
    assert code == 2 and "cannot be written (Not a directory" in err and "Traceback" not in err
    code, out, _ = cli("list")  # nothing there, nothing to list: not an error
    assert code == 0 and "no jobs yet" in out


def test_records_stay_readable_when_the_index_cannot_be_opened(cli, trn_home):
    registry = Registry(trn_home)
    jobs = make_jobs(registry, 2, state="completed")
    registry.index.close()
    (trn_home / "index.db").unlink()
    (trn_home / "index.db").mkdir()  # what sqlite cannot open, as on a read-only home
    code, out, err = cli("list", "--json")
    assert code == 0 and {r["job_id"] for r in json.loads(out)} == {j.job_id for j in jobs}
    assert "cannot open" in err and "reading the job records one by one" in err
    code, out, _ = cli("status", jobs[0].job_id, "--json")
    assert code == 0 and json.loads(out)["state"] == "completed"


def _open_and_write(path: str, go: float) -> str:
    import time
    from pathlib import Path

    from trn.registry.index import Index

    while time.time() < go:  # start together, as the jobs of a sweep do
        pass
    try:
        row = {"job_id": f"j{os.getpid()}", "state": "running", "created_at": "t", "job_dir": "d"}
        Index(Path(path)).upsert(row)
        return "ok"
    except Exception as err:  # noqa: BLE001 - the test reports whatever it was
        return f"{type(err).__name__}: {err}"


def test_processes_opening_a_new_index_together_all_get_it(tmp_path):
    """Switching a new index to WAL fails at once ("database is locked") in every process but
    one while they open it together; a sweep's first jobs did, and its summary then broke."""
    import multiprocessing
    import time

    failures = []
    with multiprocessing.get_context("fork").Pool(6) as pool:
        for round_ in range(10):
            go = time.time() + 0.3
            args = [(str(tmp_path / f"index-{round_}.db"), go)] * 6
            failures += [r for r in pool.starmap(_open_and_write, args) if r != "ok"]
    assert not failures, failures


def test_a_mistyped_job_or_sweep_id_is_answered_with_the_nearest_one(trn_home, cli):
    registry = Registry()
    (job,) = make_jobs(registry, 1)
    typo = job.job_id[:-2] + job.job_id[-1] + job.job_id[-2]  # the last two letters swapped
    with pytest.raises(NotFound, match=f"no job '{typo}' in .* \\(did you mean {job.job_id}\\?\\)"):
        registry.find(typo)
    sweep = trn_home / "sweeps" / "2026" / "12" / "07" / "261207-101010-abcd"
    sweep.mkdir(parents=True)
    code, out, err = cli("resume", "261207-101010-abdc")
    assert code != 0 and out == "" and "Traceback" not in err
    assert "no job '261207-101010-abdc'" in err, err
    assert "(did you mean 261207-101010-abcd?)" in err, err
