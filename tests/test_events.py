"""Event envelope, per-job gap-free seq across writers, schemas, and sinks that fail safely."""

from __future__ import annotations

import json
import os
import socket

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


def test_envelope_line_matches_the_documented_envelope(tmp_path):
    from trn.events.envelope import Envelope

    env = Envelope(job_id="j1", attempt=2, sweep_id="s1", source="runner", rank=0)
    fields = {"phase": "train", "step": 3, "epoch": 0, "metrics": {"train/loss": 0.25, "ü": 1e300}}
    got = json.loads(env.line("metrics", 7, fields, t=1_700_000_000.123))
    want = {
        "schema": "trn.event/1", "event": "metrics", "id": got["id"], "ts": got["ts"],
        "job_id": "j1", "sweep_id": "s1", "seq": 7, "attempt": 2, "source": "runner",
        "host": socket.gethostname(), "pid": os.getpid(), "rank": 0, **fields,
    }  # fmt: skip
    assert list(got) == list(want)  # same keys, envelope first, in the same order
    assert {k: v for k, v in got.items() if k not in ("id", "ts")} == {
        k: v for k, v in want.items() if k not in ("id", "ts")
    }
    assert got["ts"] == "2023-11-14T22:13:20.123Z"
    validate_event(got)
    assert json.loads(env.line("job_started", 0, {}))["event"] == "job_started"
    with pytest.raises(TypeError, match="envelope keys"):
        env.line("metrics", 8, {"seq": 1})  # a field may not overwrite the envelope
    with pytest.raises(ValueError):
        env.line("metrics", 8, {"x": float("inf")})


def test_fast_encoder_agrees_with_json(tmp_path):
    from trn.events.envelope import ENCODER, encode

    for obj in [
        {"a": [1, -2.5, None, True, False], "b": {"c": 'é\n"q"\\', "d": []}},
        {"big": 2**70, "tiny": 5e-324, "path": tmp_path},  # default=str for the Path
        "a string",
        None,
    ]:
        assert encode(obj) == ENCODER.encode(obj)
    with pytest.raises(ValueError):
        encode({"x": float("nan")})


def test_queued_events_are_written_in_order_before_the_next_emit(tmp_path):
    w = EventWriter(tmp_path, "j1", source="runner", flush_s=60)
    for step in range(3):
        w.emit_later("metrics", phase="train", step=step, epoch=0, metrics={"train/loss": 1.0})
    assert not (tmp_path / "events.jsonl").exists() or not read_events(tmp_path / "events.jsonl")
    w.emit("checkpoint_saved_test_marker", step=3)
    events = read_events(tmp_path / "events.jsonl")
    assert [(e["event"], e["seq"]) for e in events] == [
        ("metrics", 0), ("metrics", 1), ("metrics", 2), ("checkpoint_saved_test_marker", 3),
    ]  # fmt: skip
    assert [e["step"] for e in events] == [0, 1, 2, 3]
    ids = [e["id"] for e in events]
    assert ids == sorted(ids) and len(set(ids)) == 4
    assert [e["ts"] for e in events] == sorted(e["ts"] for e in events)


def test_queued_events_are_written_when_old_full_or_closed(tmp_path):
    path = tmp_path / "events.jsonl"
    w = EventWriter(tmp_path, "j1", source="runner", flush_s=0.2, max_queued=5)

    def count() -> int:
        return len(read_events(path)) if path.exists() else 0

    for step in range(4):
        w.emit_later("metrics", phase="train", step=step, epoch=0, metrics={})
    assert count() == 0
    w.emit_later("metrics", phase="train", step=4, epoch=0, metrics={})
    assert count() == 5  # max_queued reached
    w.emit_later("metrics", phase="train", step=5, epoch=0, metrics={})
    import time

    time.sleep(0.25)
    w.emit_later("metrics", phase="train", step=6, epoch=0, metrics={})
    assert count() == 7  # the oldest had waited flush_s
    w.emit_later("metrics", phase="train", step=7, epoch=0, metrics={"x": float("nan")})
    w.close()
    events = read_events(path)
    assert [e["seq"] for e in events] == list(range(8))
    assert events[-1]["metrics"]["x"] is None  # the NaN scrub applies to queued events too
    w.emit_later("metrics", phase="train", step=8, epoch=0, metrics={})
    w.close()  # closed: nothing more is written, nothing raised
    assert len(read_events(path)) == 8


class ReportsOnClose:
    """A sink with a background sender whose close finds undelivered events (Redis-like)."""

    name = "slow"

    def __init__(self):
        self.report, self.lines = None, []

    def write(self, line):
        self.lines.append(line)

    def close(self):
        self.report("event sink slow: 3 events not delivered")


def test_what_closing_a_sink_reports_is_written_as_a_warning_event(tmp_path):
    sink = ReportsOnClose()
    w = EventWriter(tmp_path, "j1", source="runner", extra_sinks=[sink])
    w.emit_later("metrics", phase="train", step=1, epoch=0, metrics={})
    w.close()
    events = read_events(tmp_path / "events.jsonl")
    assert [e["event"] for e in events] == ["metrics", "warning"]
    assert events[1]["message"] == "event sink slow: 3 events not delivered"
    assert len(sink.lines) == 1  # the warning goes to the files only: the sink is closed
    w.close()  # a second close does nothing
    assert len(read_events(tmp_path / "events.jsonl")) == 2
