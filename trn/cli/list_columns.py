"""``trn list --columns``: a column per metric or config key, looked up where it is cheapest.

A metric comes from the record; a config key from the job's overrides, else from its resolved
``config.yaml`` (read only for the jobs on the page, and only when an override does not say).
"""

from __future__ import annotations

from typing import Any

from trn import text as output
from trn.provenance.flat import fmt
from trn.registry.record import JobRecord, JobView

_RECORD_FIELDS = ("name", "sweep_id", "attempt", "parent_job_id", "host", "exit_code", "error")


def value(record: JobRecord, key: str, config: dict[str, Any] | None) -> str:
    from trn.registry.index import params

    if key in record.metrics:
        return output.fmt_metrics({key: record.metrics[key]}, 1).partition("=")[2]
    given = params(record.overrides)
    if key in given:
        return given[key]
    if key in _RECORD_FIELDS:
        field = getattr(record, key)
        return "" if field is None else str(field)
    if config is not None and key in config:
        return fmt(config[key])
    return "-"


def render(jobs: list[JobView], columns: list[str]) -> str:
    rows = []
    for job in jobs:
        r = job.record
        config = _config(r) if any(_needs_config(r, c) for c in columns) else None
        rows.append(
            [r.job_id, job.state, r.created_at[:19].replace("T", " ")]
            + [value(r, c, config) for c in columns]
        )
    return output.table(rows, ["JOB", "STATE", "CREATED (UTC)", *columns])


def _needs_config(record: JobRecord, key: str) -> bool:
    from trn.registry.index import params

    return (
        key not in record.metrics
        and key not in params(record.overrides)
        and key not in _RECORD_FIELDS
    )


def _config(record: JobRecord) -> dict[str, Any] | None:
    from trn.errors import UsageError
    from trn.provenance.flat import flatten
    from trn.provenance.jobfiles import config_of

    try:
        return flatten(config_of(record))
    except UsageError:  # a job dir without its config.yaml: its columns show "-"
        return None
