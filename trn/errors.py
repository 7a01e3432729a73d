"""Errors a user can fix. The CLI prints them as one line (no traceback) and exits with ``code``."""

from __future__ import annotations


class TrnError(Exception):
    """Base: a problem the user can fix; ``str(err)`` names it and the fix."""

    code = 1


class UsageError(TrnError):
    """Bad command line, config, override, path or id (exit 2)."""

    code = 2


class ConfigError(UsageError):
    """The composed config is invalid; ``problems`` lists every one, in override syntax."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


class NotFound(TrnError):
    """A job, checkpoint or dataset that does not exist (exit 1)."""

    code = 1


class NothingToDo(TrnError):
    """A request with nothing left to do, e.g. resuming a sweep whose every point is done
    (exit 1)."""

    code = 1


class JobFailed(TrnError):
    """A job ended in a state other than ``completed``; ``record`` is its final job record."""

    code = 1

    def __init__(self, message: str, record: dict | None = None):
        super().__init__(message)
        self.record: dict = dict(record or {})
        self.state: str | None = self.record.get("state")


class FailedFast(JobFailed):
    """``--fail-fast``: a job of the sweep failed, so the rest were cancelled; ``job_id`` is
    that job's."""

    def __init__(self, job_id: str, cause: str):
        super().__init__(f"--fail-fast: job {job_id} failed ({cause}); the rest were cancelled")
        self.job_id = job_id
