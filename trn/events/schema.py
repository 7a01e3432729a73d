"""Validate event lines against the JSON Schemas shipped in ``trn/schemas/events``."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from trn.paths import schema_path


@lru_cache(maxsize=1)
def _registry():  # type: ignore[no-untyped-def]
    from referencing import Registry, Resource

    resources = []
    for path in sorted(schema_path("events").glob("*.json")):
        doc = json.loads(path.read_text())
        resources.append((doc["$id"], Resource.from_contents(doc)))
    return Registry().with_resources(resources)


@lru_cache(maxsize=1)
def _event_types() -> tuple[str, ...]:
    return tuple(
        sorted(p.stem for p in schema_path("events").glob("*.json") if p.stem != "envelope")
    )


def event_types() -> list[str]:
    return list(_event_types())


def validate_event(obj: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``obj`` is a valid event of a known type."""
    import jsonschema

    name = obj.get("event")
    if name not in _event_types():
        raise jsonschema.ValidationError(f"unknown event type {name!r}")
    registry = _registry()
    schema = registry.contents(f"trn.event/1/{name}")
    jsonschema.Draft202012Validator(schema, registry=registry).validate(obj)


def validate_lines(lines: list[str], *, where: str = "events", gap_free: bool = True) -> list[dict]:
    """Parse and validate event lines; return the events.

    Every line must be one JSON object valid against its type's schema; ids are unique; with
    ``gap_free`` each job's ``seq`` runs 0, 1, 2, ... in file order (true of a job's own file and
    of the global stream). Raises ``ValueError`` naming the first bad line. Tests of every
    end-to-end run (single job, DDP, sweep, resume) call this on each file the run wrote.
    """
    import jsonschema

    events: list[dict] = []
    ids: set[str] = set()
    next_seq: dict[str, int] = {}
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            validate_event(obj)
        except (ValueError, jsonschema.ValidationError) as err:
            raise ValueError(f"{where}:{n}: {getattr(err, 'message', err)}: {line[:200]}") from err
        if obj["id"] in ids:
            raise ValueError(f"{where}:{n}: duplicate event id {obj['id']}")
        ids.add(obj["id"])
        stream = obj["job_id"] or f"sweep {obj['sweep_id']}"  # sweep events: job_id null
        expected = next_seq.get(stream, 0)
        if gap_free and obj["seq"] != expected:
            raise ValueError(f"{where}:{n}: {stream} seq {obj['seq']}, expected {expected}")
        next_seq[stream] = obj["seq"] + 1
        events.append(obj)
    return events


def validate_file(path: Any, *, gap_free: bool = True) -> list[dict]:
    """:func:`validate_lines` on a file (a job's ``events.jsonl``, the global stream, ...)."""
    with open(path, encoding="utf-8") as f:
        return validate_lines(f.read().splitlines(), where=str(path), gap_free=gap_free)
