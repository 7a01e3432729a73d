"""trn's one timestamp format, RFC 3339 UTC with milliseconds (``2026-11-28T15:20:48.123Z``):
written by :func:`utc_now` into records and events, read back by :func:`seconds`."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any


def utc_now() -> str:
    """Now, e.g. ``2026-11-28T15:20:48.123Z``."""
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}Z"


def seconds(ts: Any) -> float | None:
    """A timestamp as seconds since the epoch; None if ``ts`` is not one (missing, torn, or
    not a string). Python before 3.11 does not read the ``Z`` suffix itself."""
    if not isinstance(ts, str) or not ts:
        return None
    try:
        return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
