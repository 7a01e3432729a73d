"""A resumed job's chain of attempts, oldest first, and where each one's curve stops counting.

A resume is a new job whose record names its parent (``parent_job_id``); its config's ``resume``
names the checkpoint it continued, whose meta holds the step. What an earlier attempt did after
that step was thrown away (the resume went back to the checkpoint), so a curve of the whole
chain takes each earlier attempt's points up to ``until_step`` only, then the next attempt's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trn.jobdir import JobDir
from trn.registry.record import JobRecord, view
from trn.registry.store import Registry

LONGEST = 1000  # attempts followed; the bound only guards against a cycle of parents


@dataclass(frozen=True)
class Attempt:
    job_id: str
    job_dir: str
    attempt: int
    state: str
    until_step: int | None  # the step the next attempt resumed from; None for the last one

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "attempt": self.attempt,
            "state": self.state,
            "until_step": self.until_step,
        }


def chain(record: JobRecord, registry: Registry) -> list[Attempt]:
    """``record``'s ancestors then ``record`` itself, oldest first (a parent that cannot be
    found ends the chain there); each attempt's state as shown."""
    from trn.errors import NotFound

    records = [record]
    while (parent := records[-1].parent_job_id) and len(records) < LONGEST:
        try:
            records.append(registry.find(parent))
        except NotFound:
            break
    records.reverse()
    cuts = [resumed_at(r) for r in records[1:]] + [None]
    return [
        Attempt(r.job_id, r.job_dir, int(r.attempt or 1), view(r).state, cut)
        for r, cut in zip(records, cuts)
    ]


def resumed_at(record: JobRecord) -> int | None:
    """The step of the checkpoint a resumed job continued: its meta's, or, when that checkpoint
    is gone (collected since), the job's first step event less one."""
    from trn.checkpoints.meta import read_meta

    meta = _resume_path(record)
    if meta is not None:
        try:
            return int(read_meta(meta)["step"])
        except Exception:  # noqa: BLE001 - gone or unreadable: the events say it too
            pass
    return _first_step(JobDir(record.job_dir).events)


def _resume_path(record: JobRecord) -> Path | None:
    """The ``resume=`` of the job's resolved config (an absolute path), else of its overrides."""
    import yaml

    try:
        config = yaml.safe_load(JobDir(record.job_dir).config.read_text(encoding="utf-8"))
        if isinstance(config, dict) and config.get("resume"):
            return Path(str(config["resume"]))
    except (OSError, ValueError, yaml.YAMLError):
        pass
    for o in record.overrides:
        if o.startswith("resume="):
            return Path(o.split("=", 1)[1])
    return None


def _first_step(events: Path) -> int | None:
    from trn.events.reader import parse

    try:
        with open(events, encoding="utf-8") as f:
            for line in f:
                event = parse(line)
                if event and event.get("event") == "metrics" and isinstance(event.get("step"), int):
                    return max(0, int(event["step"]) - 1)
    except OSError:
        return None
    return None
