"""Redis Streams sink: ``XADD`` from a background thread, so training never waits on Redis.

``write`` only appends to a bounded in-memory buffer (oldest lines are dropped, and counted,
when it overflows); a daemon thread sends batches in one pipeline, reconnects with exponential
backoff while Redis is down, and delivers what was buffered once it returns. A batch whose reply
was lost may be sent twice: consumers de-duplicate by the ``id`` field (the event id).
"""

from __future__ import annotations

import json
import os
import re
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

BATCH = 500  # lines per pipeline round trip
LINGER_S = 0.05  # how long a woken sender waits for more lines (bounds the added latency)


@dataclass
class RedisOptions:
    """``events.redis`` of the config (see conf/config.yaml for what each key means)."""

    url: str
    stream: str = "trn:events"
    maxlen: int | None = 100_000
    username: str | None = None
    password_env: str | None = None
    tls: bool = False
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    buffer: int = 10_000
    timeout_s: float = 2.0
    backoff_max_s: float = 5.0
    close_timeout_s: float = 5.0

    @classmethod
    def from_config(cls, section: dict[str, Any]) -> RedisOptions:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in section.items() if k in known and v is not None})

    def display_url(self) -> str:
        """The URL without any password in it (for messages)."""
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        netloc = f"{host}:{parts.port}" if parts.port else host
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))

    def client(self) -> Any:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        url = self.url
        if self.tls and url.startswith("redis://"):
            url = "rediss://" + url[len("redis://") :]
        kwargs: dict[str, Any] = {
            "socket_connect_timeout": self.timeout_s,
            "socket_timeout": self.timeout_s,
            "retry": Retry(NoBackoff(), 0),  # the sender loop retries, with its own backoff
        }
        if self.username:
            kwargs["username"] = self.username
        if self.password_env:
            kwargs["password"] = os.environ.get(self.password_env)
        if url.startswith("rediss://"):
            kwargs.update(ssl_ca_certs=self.tls_ca, ssl_certfile=self.tls_cert)
            kwargs.update(ssl_keyfile=self.tls_key)
        return redis.Redis.from_url(url, **kwargs)


# trn writes the envelope first, in this order (envelope.py): read the filter fields without parsing
_ENVELOPE = re.compile(r'"event":"([^"]*)","id":"([^"]*)","ts":"[^"]*","job_id":(?:"([^"]*)"|null)')


def _fields(line: str) -> dict[str, str]:
    """Stream entry fields: the whole line in ``data``, plus a few to filter on."""
    m = _ENVELOPE.search(line, 0, 300)
    if m:
        event, event_id, job_id = m.group(1), m.group(2), m.group(3) or ""
    else:  # another producer's line: parse it
        try:
            obj = json.loads(line)
        except ValueError:
            obj = {}
        event, event_id, job_id = (str(obj.get(k) or "") for k in ("event", "id", "job_id"))
    return {"event": event, "job_id": job_id, "id": event_id, "data": line}


class RedisStreamSink:
    """A ``Sink`` whose ``write`` never blocks and never raises."""

    def __init__(self, options: RedisOptions, report: Callable[[str], None] | None = None):
        self.options = options
        self.name = f"redis:{options.display_url()}/{options.stream}"
        self.report = report or (lambda msg: print(f"trn: warning: {msg}", file=sys.stderr))
        self.queue: deque[str] = deque(maxlen=max(1, options.buffer))
        self.received = 0  # lines handed to write()
        self.taken = 0  # lines moved from the queue into a batch
        self.sent = 0
        self.down_since: float | None = None
        self.reported_drops = 0
        self._batch: list[str] = []
        self._client: Any = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._deadline = 0.0
        self._thread = threading.Thread(target=self._loop, name="trn-redis-sink", daemon=True)
        self._thread.start()

    # -- producer side (the training thread) -------------------------------------------------
    def write(self, line: str) -> None:
        self.queue.append(line)  # deque(maxlen): atomic, drops the oldest when full
        self.received += 1
        if not self._wake.is_set():
            self._wake.set()

    @property
    def dropped(self) -> int:
        return self.received - self.taken - len(self.queue)

    @property
    def pending(self) -> int:
        return len(self.queue) + len(self._batch)

    def close(self) -> None:
        """Deliver what is buffered, waiting at most ``close_timeout_s``; report the rest.

        A sink that never reached Redis makes one more attempt and gives up: a job's end is
        not held up by a Redis that is not there."""
        self._deadline = time.monotonic() + self.options.close_timeout_s
        self._stop.set()
        self._wake.set()
        self._thread.join(self.options.close_timeout_s + self.options.timeout_s + 1)
        lost = self.pending + self.dropped
        if lost:
            print(
                f"trn: warning: event sink {self.name}: {lost} events not delivered "
                f"({self.dropped} dropped by the full buffer, {self.pending} still buffered)",
                file=sys.stderr,
            )
        if self._client is not None:
            self._client.close()

    # -- the sender thread ------------------------------------------------------------------
    def _loop(self) -> None:
        delay = 0.0
        while True:
            self._wake.clear()
            if not self._batch:
                if len(self.queue) < BATCH and not self._stop.is_set():
                    self._stop.wait(LINGER_S)  # let a batch gather: one round trip, many events
                self._fill()
            if not self._batch:
                if self._stop.is_set():
                    return
                self._wake.wait(0.5)
                continue
            if self._stop.is_set() and self._late():
                return
            try:
                self._send()
            except Exception as err:  # noqa: BLE001 - never leaves this thread
                self._failed(err)
                if self._stop.is_set() and (self.sent == 0 or self._late()):
                    return  # closing: never reached (misconfigured?) or out of time
                delay = min(max(delay * 2, 0.1), self.options.backoff_max_s)
                self._sleep(delay)
                continue
            delay = 0.0
            self._recovered()

    def _fill(self) -> None:
        while len(self._batch) < BATCH:
            try:
                self._batch.append(self.queue.popleft())
            except IndexError:
                break
            self.taken += 1

    def _send(self) -> None:
        if self._client is None:
            self._client = self.options.client()
        pipe = self._client.pipeline(transaction=False)
        maxlen = self.options.maxlen or None
        for line in self._batch:
            pipe.xadd(self.options.stream, _fields(line), maxlen=maxlen, approximate=True)
        pipe.execute()
        self.sent += len(self._batch)
        self._batch = []

    def _failed(self, err: Exception) -> None:
        if self._client is not None:
            try:
                self._client.close()
            except Exception:  # noqa: BLE001
                pass
            self._client = None
        if self.down_since is None:
            self.down_since = time.monotonic()
            self.report(
                f"event sink {self.name} unreachable ({type(err).__name__}: {err}); events are "
                f"buffered (up to {self.options.buffer}) and sent when it is back"
            )

    def _recovered(self) -> None:
        if self.down_since is None:
            return
        down = time.monotonic() - self.down_since
        self.down_since = None
        drops = self.dropped - self.reported_drops
        self.reported_drops = self.dropped
        note = f"; {drops} events dropped (buffer full)" if drops else ""
        print(f"trn: event sink {self.name} is back after {down:.1f}s{note}", file=sys.stderr)
        if drops:
            self.report(f"event sink {self.name}: {drops} events dropped while it was down")

    def _late(self) -> bool:
        return time.monotonic() > self._deadline

    def _sleep(self, seconds: float) -> None:
        if self._stop.is_set():  # closing: keep trying until the deadline, no sooner
            time.sleep(max(0.0, min(seconds, self._deadline - time.monotonic())))
        else:
            self._stop.wait(seconds)  # close() cuts the backoff short
