"""A sweep's jobs as their events tell them (plain Python): each job's :class:`JobState`, the
overrides that vary, and the order a person wants, best finished job first."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from trn.cli.console.state import JobState, _seconds

_SWEPT = re.compile(r"^\w+\(|,")  # a=1,2 / range(...) / choice(...) / interval(...)
ORDER = {"completed": 0, "pruned": 1, "running": 2, "waiting": 3, "submitted": 3, "preempted": 4}


@dataclass
class SweepState:
    pid: int  # the sweep process: its sweep_started names the sweep to follow
    sweep_id: str | None = None
    objective: dict[str, Any] = field(default_factory=dict)
    planned: int | None = None
    swept: set[str] = field(default_factory=set)
    jobs: dict[str, JobState] = field(default_factory=dict)
    started_at: float | None = None  # its sweep_started's ts: the live table's clock

    def update(self, event: dict[str, Any]) -> None:
        name = event.get("event")
        if self.sweep_id is None:
            if name == "sweep_started" and event.get("pid") == self.pid:
                self.sweep_id = event.get("sweep_id")
                self.objective = dict(event.get("objective") or {})
                self.planned = event.get("jobs")
                self.started_at = _seconds(event.get("ts"))
                self.swept = {
                    o.partition("=")[0].lstrip("+~")
                    for o in event.get("overrides") or []
                    if _SWEPT.search(o.partition("=")[2])
                }
            return
        job_id = event.get("job_id")
        if event.get("sweep_id") != self.sweep_id or not job_id or name == "sweep_completed":
            return
        if job_id not in self.jobs:
            self.jobs[job_id] = JobState(self.objective)
        self.jobs[job_id].update(event)

    def value(self, job: JobState) -> Any:
        """The job's objective: its final metrics, else its best validation so far."""
        final = ((job.end or {}).get("metrics") or {}).get(job.metric or "")
        return final if final is not None else job.best

    def ordered(self) -> list[JobState]:
        sign = -1 if self.objective.get("mode", "max") == "max" else 1

        def key(job: JobState) -> tuple[Any, ...]:
            value = self.value(job)
            has = isinstance(value, int | float) and math.isfinite(value)
            return (ORDER.get(job.state, 5), not has, sign * value if has else 0, job.job_id)

        return sorted(self.jobs.values(), key=key)

    def varying(self, job: JobState) -> str:
        """The job's overrides that the sweep varies (all of them while that is unknown)."""
        keys = self.swept or {o.partition("=")[0] for o in job.overrides}
        return " ".join(o for o in job.overrides if o.partition("=")[0].lstrip("+~") in keys)

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for job in self.jobs.values():
            counts[job.state] = counts.get(job.state, 0) + 1
        return counts
