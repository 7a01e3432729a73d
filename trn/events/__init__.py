"""JSON-line events: one flat object per line (envelope + the event's own fields).

See ``docs/events.md`` for every event type; each has a JSON Schema under ``trn/schemas/events``.
"""

SCHEMA_VERSION = "trn.event/1"
