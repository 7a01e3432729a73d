"""The one wait() loop of trn.Job and trn.Client's jobs: polls the record until the job ends."""

from __future__ import annotations

import pytest

from trn.errors import JobFailed
from trn.waiting import wait_for_end

ENDED = {"completed", "failed", "cancelled", "preempted", "lost"}


def records(*states: str, error: str | None = None):
    """A record() that reports these states in turn, then stays on the last."""
    seen = list(states)
    calls = []

    def record() -> dict:
        calls.append(1)
        state = seen.pop(0) if len(seen) > 1 else seen[0]
        return {"job_id": "j", "state": state, "error": error}

    return record, calls


def test_polls_until_the_job_ends_and_returns_the_final_record():
    record, calls = records("submitted", "running", "running", "completed")
    assert wait_for_end("j", record, ENDED, None, True, 0)["state"] == "completed"
    assert len(calls) == 4


def test_a_job_that_did_not_complete_raises_job_failed_with_its_record_unless_unchecked():
    record, _ = records("running", "failed", error="CUDA out of memory")
    with pytest.raises(JobFailed, match="job j failed: CUDA out of memory") as err:
        wait_for_end("j", record, ENDED, None, True, 0)
    assert err.value.record["state"] == "failed"
    record, _ = records("cancelled")
    assert wait_for_end("j", record, ENDED, None, False, 0)["state"] == "cancelled"


def test_lost_ends_the_wait_when_the_caller_counts_it_as_ended():
    record, _ = records("running", "lost")
    with pytest.raises(JobFailed, match="job j lost"):
        wait_for_end("j", record, ENDED, None, True, 0)


def test_a_job_still_running_at_the_timeout_raises_timeout_error():
    record, _ = records("running")
    with pytest.raises(TimeoutError, match="job j still running after 0s"):
        wait_for_end("j", record, ENDED, 0, True, 0)
