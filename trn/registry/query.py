"""``trn list --where/--sort``: filters checked, then one indexed query (see :class:`Index`)."""

from __future__ import annotations

import re
from dataclasses import replace

from trn.errors import UsageError
from trn.registry.index import Search
from trn.registry.record import STATES, JobState, JobView, view
from trn.registry.store import Registry

_KEY = re.compile(r"^[A-Za-z_][\w.\-/@]*$")
RECORD_KEYS = {"state": "state", "sweep": "sweep_id", "sweep_id": "sweep_id"}


def parse_where(items: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """``["state=completed", "optimizer.lr=1e-3"]`` -> (record filters, override filters)."""
    fields: dict[str, str] = {}
    overrides: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key, value = key.strip().lstrip("+"), value.strip()
        if not sep or not _KEY.match(key) or not value:
            raise UsageError(
                f"--where {item!r}: expected KEY=VALUE, e.g. --where optimizer.lr=0.001 "
                "or --where state=completed"
            )
        if key in RECORD_KEYS:
            if key == "state" and value not in STATES:
                raise UsageError(
                    f"--where state={value}: no such state; one of {', '.join(STATES)}"
                )
            fields[RECORD_KEYS[key]] = value
        else:
            overrides[key] = value
    return fields, overrides


def select(registry: Registry, state: str | None, q: Search) -> list[JobView]:
    """The jobs of ``q`` in ``state``, as shown (``lost`` is derived from running/submitted
    ones)."""
    index, limit = registry.index, q.limit
    if q.sort and not index.has_metric(q.sort):  # one index seek; the names only on error
        known = ", ".join(index.metric_names()) or "none yet"
        raise UsageError(f"--sort {q.sort}: no job has that metric; metrics: {known}")
    lost = state == JobState.LOST.value
    if lost:
        q = replace(q, states=[JobState.RUNNING.value, JobState.SUBMITTED.value], limit=None)
    elif state:
        q = replace(q, states=[state])
    views = [view(r) for r in index.search(q)]
    if lost:
        views = [v for v in views if v.state == JobState.LOST.value][:limit]
    return views
