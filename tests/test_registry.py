"""Job records, the SQLite index as a rebuildable cache, ids and prefixes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from trn.errors import NotFound, UsageError
from trn.ids import BadJobId, check_job_id, new_id
from trn.registry.record import JobRecord, effective_state, view
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
    assert registry.find(job.job_id[:10]).job_id == job.job_id


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
    assert [r.job_id for r in listed] == sorted((j.job_id for j in jobs + done), reverse=True)[:3]
    assert {r.job_id for r in registry.list(state="completed")} == {j.job_id for j in done}
    assert len(registry.list(sweep_id="sw1")) == 2


def test_index_is_a_cache_rebuilt_from_job_dirs(trn_home):
    registry = Registry()
    jobs = make_jobs(registry, 3)
    registry.index.close()
    (trn_home / "index.db").unlink()
    for extra in ("index.db-wal", "index.db-shm"):
        (trn_home / extra).unlink(missing_ok=True)
    fresh = Registry()  # no index: rebuilt on first use
    assert {r.job_id for r in fresh.list()} == {j.job_id for j in jobs}
    assert fresh.reindex() == 3


def test_running_job_whose_supervisor_is_gone_is_lost(trn_home):
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    record = JobRecord(job_id="x", job_dir="/nowhere", state="running", pid=proc.pid)
    assert effective_state(record) == "lost"
    record.pid = os.getpid()
    assert effective_state(record) == "running"
    record.state = "completed"
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
        row = JobRecord(job_id=f"j{os.getpid()}", job_dir="d", state="running", created_at="t")
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


def _lost_job(registry: Registry) -> JobRecord:
    """A job stored ``running`` whose supervisor (a process that has exited) is gone."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    (job,) = make_jobs(registry, 1, state="running", pid=proc.pid)
    return job


def test_the_registry_returns_the_stored_state_and_the_view_says_lost(trn_home):
    registry = Registry()
    job = _lost_job(registry)
    found = registry.find(job.job_id)
    assert isinstance(found, JobRecord) and found.state == "running"  # as its supervisor wrote
    assert view(found).state == "lost" and view(found).record is found
    (listed,) = registry.list()
    assert listed.state == "running" and view(listed).state == "lost"
    (lost,) = registry.list(state="lost")  # selected by the view, the record still as stored
    assert lost.job_id == job.job_id and lost.state == "running"
    assert registry.list(state="running")[0].job_id == job.job_id  # stored: still running
    on_disk = json.loads((Path(job.job_dir) / "job.json").read_text())
    assert on_disk["state"] == "running"  # nothing wrote the derived lost back
    assert view(found).to_dict() == {**on_disk, "state": "lost"}


def test_a_lost_job_shows_lost_in_every_json_a_user_or_the_api_reads(trn_home, cli):
    registry = Registry()
    job = _lost_job(registry)
    code, out, _ = cli("list", "--json")
    assert code == 0 and [r["state"] for r in json.loads(out)] == ["lost"]
    code, out, _ = cli("list", "--json", "--state", "lost")
    assert code == 0 and [r["job_id"] for r in json.loads(out)] == [job.job_id]
    code, out, _ = cli("status", job.job_id, "--json")
    shown = json.loads(out)
    assert code == 0 and shown["state"] == "lost" and shown["job_id"] == job.job_id
    assert set(shown) == set(job.to_dict()) | {"progress"}  # the record's fields, as before
    import trn

    assert trn.job(job.job_id).record()["state"] == "lost"
    assert trn.job(job.job_id).status() == "lost"
    assert [r["state"] for r in trn.jobs()] == ["lost"]
    assert Registry.read(Path(job.job_dir))["state"] == "running"


def test_a_record_from_an_old_or_partial_row_takes_the_defaults(tmp_path):
    old = {  # a row from before backend, kind, hosts...; a key this version does not know
        "job_id": "231114-221320-ab12",
        "job_dir": str(tmp_path),
        "state": "completed",
        "metrics": None,  # stored as null
        "extra": {"slurm_job_id": "42"},
        "retired_field": 1,
    }
    record = JobRecord.from_dict(old)
    assert (record.job_id, record.state, record.attempt) == (old["job_id"], "completed", 1)
    assert record.metrics == {} and record.hosts == [] and record.kind == "train"
    assert record.backend == "slurm"  # named a Slurm job before records said their backend
    assert "retired_field" not in record.to_dict()
    assert JobRecord.from_dict({"job_id": "a", "job_dir": "/d"}).backend == "local"
    assert JobRecord.from_dict({**old, "backend": "local"}).backend == "local"
    for bad in ({"job_dir": "/d"}, {"job_id": "a"}, {"job_id": 3, "job_dir": "/d"}):
        with pytest.raises(ValueError, match="not a job record"):
            JobRecord.from_dict(bad)
    with pytest.raises(ValueError, match="not a job record"):
        JobRecord.from_dict(["a list"])  # type: ignore[arg-type]


def test_an_index_row_of_an_old_record_is_listed_and_a_foreign_row_is_skipped(trn_home):
    registry = Registry()
    (job,) = make_jobs(registry, 1, state="completed")
    old = {k: v for k, v in job.to_dict().items() if k in ("job_id", "job_dir", "state")}
    old["created_at"] = job.created_at
    rows = [
        (job.job_id, "completed", None, job.created_at, job.job_dir, json.dumps(old)),
        ("zz-not-a-record", "completed", None, job.created_at, "d", json.dumps(["junk"])),
    ]
    with registry.index.transaction() as db:
        db.executemany("INSERT OR REPLACE INTO jobs VALUES (?, ?, ?, ?, ?, ?)", rows)
    (listed,) = registry.list(state="completed")
    assert listed.job_id == job.job_id and listed.metrics == {} and listed.backend == "local"
