"""Job and sweep ids: short, sortable by creation time, ``[a-z0-9-]`` only.

``YYMMDD-HHMMSS-xxxx``: UTC time to the second, then four random base-36 characters. The
directory is created with ``mkdir`` (exclusive), so two launches in the same second never share
an id; see :func:`trn.registry.store.create_job_dir`.
"""

from __future__ import annotations

import re
import secrets
import time

from trn.errors import UsageError

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


def new_id(now: float | None = None) -> str:
    stamp = time.strftime("%y%m%d-%H%M%S", time.gmtime(time.time() if now is None else now))
    return stamp + "-" + "".join(secrets.choice(_ALPHABET) for _ in range(4))


class BadJobId(UsageError):
    """A job id (or prefix) given on the command line that cannot be one."""


def check_job_id(text: str) -> str:
    """Return ``text`` if it can be a job id or a prefix of one; raise :class:`BadJobId`."""
    if not _ID_RE.match(text or ""):
        raise BadJobId(
            f"invalid job id {text!r}: job ids use only a-z, 0-9 and '-' "
            "(see `trn list` for the ids of your jobs)"
        )
    return text


def pick(prefix: str, ids: list[str], what: str = "job") -> str | None:
    """The one of ``ids`` (those starting with ``prefix``) that ``prefix`` names: the exact id,
    else the only one; None when there is none. Job ids and sweep ids resolve alike, like git:
    a unique prefix works, an ambiguous one is a usage error naming two candidates."""
    if prefix in ids:
        return prefix
    if len(ids) > 1:
        first, second = sorted(ids)[:2]
        raise UsageError(
            f"{what} id prefix {prefix!r} is ambiguous ({first}, {second}, ...); "
            "give more characters"
        )
    return ids[0] if ids else None
