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


def event_types() -> list[str]:
    return sorted(p.stem for p in schema_path("events").glob("*.json") if p.stem != "envelope")


def validate_event(obj: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``obj`` is a valid event of a known type."""
    import jsonschema

    name = obj.get("event")
    if name not in event_types():
        raise jsonschema.ValidationError(f"unknown event type {name!r}")
    registry = _registry()
    schema = registry.contents(f"trn.event/1/{name}")
    jsonschema.Draft202012Validator(schema, registry=registry).validate(obj)
