"""Waiting for a job to end by polling its record: what :meth:`trn.Job.wait` (a local job dir)
and :meth:`trn.client.RemoteJob.wait` (over HTTP) share. Only the standard library and
:mod:`trn.errors`, so that the HTTP client, which must run with nothing but trn's wheel, can use it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from typing import Any

from trn.errors import JobFailed


def wait_for_end(
    job_id: str,
    record: Callable[[], dict[str, Any]],
    ended: Collection[str],
    timeout: float | None,
    check: bool,
    poll_s: float,
    settled: Callable[[dict[str, Any]], bool] | None = None,
) -> dict[str, Any]:
    """Call ``record()`` every ``poll_s`` seconds until its state is in ``ended`` (and, given
    ``settled``, until that says the rest of the end is written too); that final record.
    ``check``: raise :class:`JobFailed` unless it completed. :class:`TimeoutError` once
    ``timeout`` seconds have passed."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while (now := record())["state"] not in ended or (settled and not settled(now)):
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"job {job_id} still {now['state']} after {timeout}s")
        time.sleep(poll_s)
    if check and now["state"] != "completed":
        why = f": {now['error']}" if now.get("error") else ""
        raise JobFailed(f"job {job_id} {now['state']}{why}", now)
    return now
