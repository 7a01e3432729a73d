"""The backend interface (trn/lifecycle/backends): each backend submits a plan, describes a job,
cancels it and finds its logs. The local one here, for real; Slurm's in tests/test_slurm.py."""

from __future__ import annotations

from conftest import FAST, wait_until

from trn.lifecycle.backends import backend_of
from trn.lifecycle.backends.local import LOCAL
from trn.lifecycle.planning import make_plan
from trn.registry.record import JobRecord
from trn.registry.store import Registry


def test_the_local_backend_submits_a_plan_then_describes_the_job_and_finds_its_logs(trn_home):
    record = LOCAL.submit(make_plan([*FAST], home=trn_home))
    # the record as submitted: the detached supervisor's pid in it, the job its from now on
    assert isinstance(record, JobRecord) and record.state == "submitted"
    assert record.backend == "local" and record.pid and record.pid_start
    assert backend_of(record) is LOCAL

    def ended() -> JobRecord | None:
        now = Registry(trn_home).find(record.job_id)
        return now if now.state == "completed" else None

    done = wait_until(ended, "the submitted job's end")
    shown = LOCAL.describe(done)
    assert shown.state == "completed" and shown.record.job_id == record.job_id
    assert shown.details == {}  # nothing the local backend adds to the record
    runner_log, supervisor_log = LOCAL.logs(done)
    assert runner_log.is_file() and runner_log.stat().st_size > 0 and supervisor_log.is_file()
    assert LOCAL.handle(done) is None  # no name of its own but trn's job id
