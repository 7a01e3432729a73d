"""Drive a remote ``trn serve`` with the calls of ``import trn``: ``trn.Client(url, token)``.

::

    client = trn.Client("http://gpu-box:8765", token)     # token: default $TRN_SERVE_TOKEN
    job = client.submit(["profile=dev", "optimizer.lr=3e-4"])
    for event in job.events():                            # follows until the job ends
        print(event["event"], event.get("metrics"))
    record = job.wait()                                   # JobFailed unless completed

Errors are the same types as :mod:`trn.api` raises, with the server's one-line message. Only the
standard library: a program on another machine needs nothing but trn's wheel.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from typing import Any

from trn.errors import ConfigError, NotFound, TrnError, UsageError
from trn.events.reader import TERMINAL_EVENTS
from trn.waiting import wait_for_end

ENDED = {"completed", "failed", "cancelled", "preempted", "pruned", "lost"}


class Client:
    def __init__(self, url: str, token: str | None = None, *, timeout: float = 60.0):
        self.url = url.rstrip("/")
        self.token = token or os.environ.get("TRN_SERVE_TOKEN") or ""
        self.timeout = timeout
        if not self.token:
            raise UsageError("no token: pass Client(url, token) or set TRN_SERVE_TOKEN")

    def __repr__(self) -> str:
        return f"Client({self.url!r})"

    # -- the calls of import trn ------------------------------------------------------------
    def submit(self, overrides: Sequence[str] = (), *, name: str | None = None) -> RemoteJob:
        """Validate, record and start a job on the server; its handle (``trn.submit``)."""
        body: dict[str, Any] = {"overrides": _strings(overrides)}
        if name is not None:
            body["name"] = name
        record = self.request("POST", "/jobs", body)
        return RemoteJob(self, record["job_id"])

    def evaluate(
        self, target: str, overrides: Sequence[str] = (), *, stage: str = "test"
    ) -> RemoteJob:
        """An eval job of a job's best checkpoint or a server-side ``.meta.json``
        (``trn.evaluate``); its handle."""
        body = {"kind": "eval", "checkpoint": target, "stage": stage}
        record = self.request("POST", "/jobs", {**body, "overrides": _strings(overrides)})
        return RemoteJob(self, record["job_id"])

    def submit_sweep(self, overrides: Sequence[str]) -> dict[str, Any]:
        """Start a sweep (``trn run -m --detach``): ``{sweep_id, sweep_dir, jobs, pid}``."""
        return self.request("POST", "/jobs", {"overrides": _strings(overrides), "multirun": True})

    def jobs(
        self,
        state: str | None = None,
        sweep: str | None = None,
        limit: int | None = None,
        kind: str | None = None,
    ) -> list[dict[str, Any]]:
        """Job records, newest first (``trn.jobs``); ``limit=None``: all of them, page by page;
        ``kind``: train or eval."""
        out: list[dict[str, Any]] = []
        offset: int | None = 0
        while offset is not None and (limit is None or len(out) < limit):
            size = min(1000, limit - len(out)) if limit else 1000
            query = {"state": state, "sweep": sweep, "limit": size, "offset": offset, "kind": kind}
            page = self.request("GET", "/jobs", query=query)
            out += page["jobs"]
            offset = page["next_offset"]
        return out

    def get(self, job_id: str) -> RemoteJob:
        """The handle of an existing job, by id or unique prefix (``trn.job``)."""
        return RemoteJob(self, self.request("GET", f"/jobs/{_quote(job_id)}")["job_id"])

    job = get

    def cancel(self, job_id: str) -> dict[str, Any]:
        """Ask a job to stop (``trn cancel --no-wait``); the record now."""
        return self.request("POST", f"/jobs/{_quote(job_id)}/cancel", {})

    def resume(self, job_id: str, overrides: Sequence[str] = ()) -> RemoteJob:
        """A new job continuing ``job_id``'s newest checkpoint (``trn resume --detach``)."""
        body = {"overrides": _strings(overrides)}
        return RemoteJob(
            self, self.request("POST", f"/jobs/{_quote(job_id)}/resume", body)["job_id"]
        )

    def sweep(self, sweep_id: str) -> dict[str, Any]:
        return self.request("GET", f"/sweeps/{_quote(sweep_id)}")

    def sweeps(self, limit: int = 20) -> list[dict[str, Any]]:
        """Sweeps, newest first, each without its rows (``trn.api.sweeps``)."""
        return list(self.request("GET", f"/sweeps?limit={int(limit)}")["sweeps"])

    def events(
        self,
        job_id: str | None = None,
        *,
        follow: bool = True,
        last_event_id: str | int | None = None,
        **filters: Any,
    ) -> Iterator[dict[str, Any]]:
        """A job's events (until its terminal one), or with no job every job's events as they
        come (filters: ``tail``, ``sweep``, ``event``, ``job``); resumes after ``last_event_id``."""
        if job_id is None:
            path, query = "/events", filters
        else:
            path, query = f"/jobs/{_quote(job_id)}/events", {"follow": int(follow)}
        headers = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        with self.open("GET", path, query=query, headers=headers) as reply:
            data: list[str] = []
            for raw in reply:
                line = raw.decode("utf-8").rstrip("\r\n")
                if line.startswith("data:"):
                    data.append(line[5:].lstrip())
                elif not line and data:
                    event = json.loads("\n".join(data))
                    data = []
                    yield event
                    if job_id is not None and event.get("event") in TERMINAL_EVENTS:
                        return

    # -- HTTP ---------------------------------------------------------------------------------
    def request(
        self, method: str, path: str, body: Any = None, *, query: dict[str, Any] | None = None
    ) -> Any:
        with self.open(method, path, body, query=query) as reply:
            return json.loads(reply.read())

    def open(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        query: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        url = f"{self.url}/api/v1{path}"
        given = {k: v for k, v in (query or {}).items() if v is not None}
        if given:
            url += "?" + urllib.parse.urlencode(given)
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        for key, value in (headers or {}).items():
            request.add_header(key, value)
        try:
            return urllib.request.urlopen(request, timeout=self.timeout)
        except urllib.error.HTTPError as err:
            raise _error(err) from None
        except urllib.error.URLError as err:
            raise TrnError(f"cannot reach trn serve at {self.url}: {err.reason}") from None


class RemoteJob:
    """A job on a server, by id: the methods of :class:`trn.Job`."""

    def __init__(self, client: Client, job_id: str):
        self.client = client
        self.job_id = job_id

    def __repr__(self) -> str:
        return f"RemoteJob({self.job_id!r})"

    def record(self) -> dict[str, Any]:
        return self.client.request("GET", f"/jobs/{self.job_id}")

    def status(self) -> str:
        return str(self.record()["state"])

    def wait(
        self, timeout: float | None = None, *, check: bool = True, poll_s: float = 0.5
    ) -> dict[str, Any]:
        return wait_for_end(self.job_id, self.record, ENDED, timeout, check, poll_s)

    def events(self, follow: bool = True) -> Iterator[dict[str, Any]]:
        return self.client.events(self.job_id, follow=follow)

    def cancel(self) -> None:
        """Ask the job to stop; a no-op once it ended (as :meth:`trn.Job.cancel`)."""
        try:
            self.client.cancel(self.job_id)
        except TrnError as err:
            if getattr(err, "status", None) != 409:
                raise


def _error(err: urllib.error.HTTPError) -> TrnError:
    try:
        payload = json.loads(err.read() or b"{}")
    except ValueError:
        payload = {}
    message = payload.get("error") or f"HTTP {err.code}"
    exc: TrnError
    if err.code in (401, 403):
        exc = UsageError(f"trn serve refused the request ({err.code} {message}); check the token")
    elif err.code == 404:
        exc = NotFound(message)
    elif payload.get("problems"):
        exc = ConfigError(payload["problems"])
    elif err.code in (400, 413, 422):
        exc = UsageError(message)
    else:
        exc = TrnError(f"trn serve: {message} (HTTP {err.code})")
    exc.status = err.code  # type: ignore[attr-defined]
    return exc


def _strings(overrides: Sequence[str]) -> list[str]:
    if isinstance(overrides, str) or not all(isinstance(o, str) for o in overrides):
        raise TypeError("overrides is a list of strings, e.g. ['optimizer.lr=1e-3']")
    return list(overrides)


def _quote(job_id: str) -> str:
    return urllib.parse.quote(job_id, safe="")
