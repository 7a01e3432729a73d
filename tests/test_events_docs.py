"""docs/events.md documents every event type, and every example in it is a valid event."""

from __future__ import annotations

import json
import re

from conftest import ROOT

from trn.events.schema import event_types, validate_event

DOC = (ROOT / "docs" / "events.md").read_text()


def test_every_event_type_has_a_section_with_a_valid_example():
    sections = dict(re.findall(r"^### (\w+)\n(.*?)(?=^### |\Z)", DOC, flags=re.M | re.S))
    missing = [t for t in event_types() if t not in sections]
    assert not missing, f"document these event types in docs/events.md: {missing}"
    for name in event_types():
        examples = re.findall(r"```json\n(.*?)\n```", sections[name], flags=re.S)
        assert examples, f"docs/events.md: no example for {name}"
        for text in examples:
            event = json.loads(text)
            assert event["event"] == name
            validate_event(event)
