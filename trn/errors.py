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


class JobFailed(TrnError):
    """A job ended in a state other than ``completed``; ``record`` is its final job record."""

    code = 1

    def __init__(self, message: str, record: dict | None = None):
        super().__init__(message)
        self.record: dict = dict(record or {})
        self.state: str | None = self.record.get("state")
