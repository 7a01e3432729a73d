"""Server-Sent Events that follow the events.jsonl files as they grow.

``/jobs/{id}/events``: the job's own file, ``id:`` is the event's ``seq`` (gap-free per job), and
the stream ends after the terminal event. ``/events``: ``$TRN_HOME/events.jsonl``, every job's
events, ``id:`` is the event's ``id``; it never ends. Both resume after ``Last-Event-ID``. Each
stream holds no open file between polls; a client that goes away cancels its generator (the
``finally`` below), which :attr:`Streams.open` counts.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import StreamingResponse

from trn import api
from trn.events.reader import TERMINAL_EVENTS, parse, read_new, tail_offset
from trn.jobdir import HomeDir, JobDir
from trn.serve.replies import BadRequest
from trn.serve.routes_jobs import call, home, whole

KEEPALIVE_S = 15.0  # a comment line now and then keeps proxies from closing an idle stream
HEADERS = {"cache-control": "no-cache, no-transform", "x-accel-buffering": "no"}


class Streams:
    """How many event streams are open (``/health`` shows it to a token holder)."""

    def __init__(self) -> None:
        self.open = 0


async def tail(
    path: Path,
    offset: int,
    done: Callable[[], bool],
    poll_s: float,
    streams: Streams,
) -> AsyncIterator[str | None]:
    """Lines appended to ``path`` after ``offset`` until ``done()`` (asked before each read, so
    nothing written before it is missed); ``None`` when a keep-alive is due."""
    streams.open += 1
    try:
        quiet_since = time.monotonic()
        while True:
            finished = done()
            lines, offset = read_new(path, offset)
            for line in lines:
                yield line
            if finished:
                return
            if lines:
                quiet_since = time.monotonic()
            else:
                if time.monotonic() - quiet_since > KEEPALIVE_S:
                    quiet_since = time.monotonic()
                    yield None
                await asyncio.sleep(poll_s)
    finally:
        streams.open -= 1


def frame(event: dict[str, Any], event_id: Any) -> str:
    return f"id: {event_id}\ndata: {json.dumps(event, separators=(',', ':'))}\n\n"


def last_event_id(request: Request) -> str | None:
    return request.headers.get("last-event-id") or request.query_params.get("last_event_id")


def sse(chunks: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(chunks, media_type="text/event-stream", headers=HEADERS)


async def job_events(request: Request) -> StreamingResponse:
    """A job's events as they happen.
    ---
    summary: "A job's events as Server-Sent Events, from the first (or after Last-Event-ID, a seq) until its terminal event"
    parameters:
      - {$ref: '#/components/parameters/job_id'}
      - {name: Last-Event-ID, in: header, description: resume after this seq, schema: {type: integer}}
      - {name: last_event_id, in: query, description: 'the same, for clients that cannot set headers', schema: {type: integer}}
      - {name: follow, in: query, description: "0: what is there now, then end", schema: {type: integer, enum: [0, 1]}}
    responses:
      200: {description: "text/event-stream; each message: id (the seq) and data (the event as JSON)", content: {text/event-stream: {schema: {type: string}}}}
      400: {$ref: '#/components/responses/BadRequest'}
      401: {$ref: '#/components/responses/Unauthorized'}
      404: {$ref: '#/components/responses/NotFound'}
    """
    job = await call(api.job, request.path_params["job_id"], home(request))
    after_text = last_event_id(request)
    if after_text is not None and not after_text.lstrip("-").isdigit():
        raise BadRequest(f"Last-Event-ID {after_text!r}: for a job's events it is a seq number")
    after = int(after_text) if after_text is not None else -1
    follow = whole(request.query_params, "follow", 1, 0, 1) == 1
    settings, streams = request.app.state.settings, request.app.state.streams

    def ended() -> bool:
        return not follow or job.ended_for_followers()

    async def chunks() -> AsyncIterator[str]:
        yield "retry: 1000\n\n"
        path = JobDir(job.job_dir).events
        async for line in tail(path, 0, ended, settings.poll_s, streams):
            if line is None:
                yield ": keep-alive\n\n"
                continue
            event = parse(line)
            if event is None or not isinstance(event.get("seq"), int) or event["seq"] <= after:
                continue
            yield frame(event, event["seq"])
            if event.get("event") in TERMINAL_EVENTS:
                return

    return sse(chunks())


async def all_events(request: Request) -> StreamingResponse:
    """Every job's events as they happen.
    ---
    summary: 'The global event stream ($TRN_HOME/events.jsonl) as Server-Sent Events, following; filters as trn events'
    parameters:
      - {name: Last-Event-ID, in: header, description: resume after the event with this id, schema: {type: string}}
      - {name: last_event_id, in: query, description: 'the same, for clients that cannot set headers', schema: {type: string}}
      - {name: tail, in: query, description: 'start with the last N events (default 0: only new ones)', schema: {type: integer, minimum: 0}}
      - {name: job, in: query, description: only this job's events, schema: {type: string}}
      - {name: sweep, in: query, description: only this sweep's events, schema: {type: string}}
      - {name: event, in: query, description: 'only events of this type, e.g. metrics', schema: {type: string}}
    responses:
      200: {description: "text/event-stream; each message: id (the event id) and data (the event as JSON)", content: {text/event-stream: {schema: {type: string}}}}
      400: {$ref: '#/components/responses/BadRequest'}
      401: {$ref: '#/components/responses/Unauthorized'}
    """
    q = request.query_params
    unknown = sorted(set(q) - {"last_event_id", "tail", "job", "sweep", "event"})
    if unknown:
        raise BadRequest(f"unknown query parameter {unknown[0]!r}; known: tail, job, sweep, event")
    wanted = {k: q[k] for k in ("job", "sweep", "event") if q.get(k)}
    fields = {"job": "job_id", "sweep": "sweep_id", "event": "event"}
    n = whole(q, "tail", 0, 0, 100_000)
    settings, streams = request.app.state.settings, request.app.state.streams
    path = HomeDir(settings.home).events
    after = last_event_id(request)
    offset, newer_than = await call(start, path, after, n)

    async def chunks() -> AsyncIterator[str]:
        yield "retry: 1000\n\n"
        async for line in tail(path, offset, lambda: False, settings.poll_s, streams):
            if line is None:
                yield ": keep-alive\n\n"
                continue
            event = parse(line)
            if event is None or (newer_than and str(event.get("id")) <= newer_than):
                continue
            if all(str(event.get(fields[k])) == v for k, v in wanted.items()):
                yield frame(event, event.get("id"))

    return sse(chunks())


def start(path: Path, after: str | None, n: int) -> tuple[int, str | None]:
    """Where to start reading: just after the line of event ``after``; when that line is gone
    (the file was rotated), from the top, skipping ids up to it (ids sort by time)."""
    if after is None:
        return tail_offset(path, n) if n else _size(path), None
    offset = 0
    try:
        with open(path, "rb") as f:
            for raw in f:
                offset += len(raw)
                if raw.endswith(b"\n") and after.encode() in raw:
                    event = parse(raw.decode("utf-8", errors="replace"))
                    if event and event.get("id") == after:
                        return offset, None
    except FileNotFoundError:
        pass
    return 0, after


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
