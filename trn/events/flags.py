"""The plan's logging flags of ``trn run``, mapped onto config overrides and ``$TRN_HOME``.

``--event-log PATH``: every event of the job is also appended to PATH (``events.file=PATH``,
made absolute, so the runner writes the same file whatever its working directory).

``--log-dir DIR``: everything the job writes lives under DIR, exactly as with ``TRN_HOME=DIR``:
``DIR/runs/.../<job_id>/{events.jsonl,runner.log,job.json,...}``, ``DIR/events.jsonl`` and
``DIR/index.db``. Read those jobs back with ``TRN_HOME=DIR trn list`` (or ``trn logs``).
"""

from __future__ import annotations

import os
from pathlib import Path


def _quote(value: str) -> str:
    """A Hydra override value that stays one string whatever characters the path holds."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def event_log_override(path: str) -> str:
    return f"events.file={_quote(str(Path(os.path.expanduser(path)).resolve()))}"


def apply_log_flags(
    overrides: list[str], event_log: str | None, log_dir: str | None
) -> tuple[list[str], Path | None]:
    """``(overrides + events.file=..., home or None)`` for ``--event-log`` / ``--log-dir``.

    A caller that gets a home should pass it to :func:`trn.plan.make_plan` and export it as
    ``TRN_HOME`` (the supervisor hands ``plan.home`` to the runner).
    """
    out = list(overrides)
    if event_log:
        out.append(event_log_override(event_log))
    home = Path(os.path.expanduser(log_dir)).resolve() if log_dir else None
    return out, home
