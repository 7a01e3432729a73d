"""Event envelope, per-job gap-free seq across writers, schemas, and sinks that fail safely."""

from __future__ import annotations

import json

import jsonschema
import pytest
from conftest import read_events

from trn.events.schema import event_types, validate_event
from trn.events.sinks import Guarded
from trn.events.writer import EventWriter


def test_seq_continues_across_writers_of_one_job(tmp_path):
    first = EventWriter(tmp_path, "j1", source="cli", global_path=tmp_path / "all.jsonl")
    first.emit("warning", message="a")
    second = EventWriter(tmp_path, "j1", source="runner", global_path=tmp_path / "all.jsonl")
    second.emit("heartbeat", step=1)
    second.emit("heartbeat", step=2)
    events = read_events(tmp_path / "events.jsonl")
    assert [e["seq"] for e in events] == [0, 1, 2]
    assert [e["source"] for e in events] == ["cli", "runner", "runner"]
    assert read_events(tmp_path / "all.jsonl") == events
    ids = [e["id"] for e in events]
    assert ids == sorted(ids) and len(set(ids)) == 3
    for e in events:
        validate_event(e)


def test_torn_last_line_does_not_break_seq(tmp_path):
    w = EventWriter(tmp_path, "j1", source="cli")
    w.emit("heartbeat", step=1)
    with open(tmp_path / "events.jsonl", "a") as f:
        f.write('{"seq": 99, "trunc')  # a writer killed mid-line
    assert EventWriter(tmp_path, "j1", source="runner").seq == 1


def test_non_finite_numbers_become_null(tmp_path):
    w = EventWriter(tmp_path, "j1", source="runner")
    w.emit("metrics", phase="train", step=1, epoch=0, metrics={"train/loss": float("nan")})
    line = (tmp_path / "events.jsonl").read_text()
    assert "NaN" not in line and json.loads(line)["metrics"]["train/loss"] is None


def test_schema_rejects_bad_events():
    with pytest.raises(jsonschema.ValidationError):
        validate_event({"event": "no_such_type"})
    assert {
        "job_submitted",
        "job_started",
        "metrics",
        "checkpoint_saved",
        "job_completed",
        "job_failed",
        "job_cancelled",
        "job_preempted",
    } <= set(event_types())


class Flaky:
    name = "flaky"

    def __init__(self):
        self.down, self.lines = True, []

    def write(self, line):
        if self.down:
            raise ConnectionError("down")
        self.lines.append(line)

    def close(self):
        pass


def test_failing_sink_is_reported_once_and_retried():
    sink, reports = Flaky(), []
    guarded = Guarded(sink, report=reports.append)
    guarded.write("a")
    guarded.write("b")
    assert len(reports) == 1 and "failed" in reports[0]
    sink.down = False
    guarded.write("c")
    assert sink.lines == ["a", "b", "c"] and "recovered" in reports[-1]
