"""A real ``trn serve`` process on a free loopback port (and the ``server`` fixture that runs one
over the test's $TRN_HOME), and small helpers to talk to it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import PATIENCE, ROOT, free_port, wait_until

TOKEN = "test-token-0123456789abcdef"
READ_TOKEN = "read-token-0123456789abcdef"
# a job that runs long enough to be followed, watched and cancelled mid-way
LONG = [
    "profile=dev",
    "devices=cpu",
    "trainer.max_epochs=200",
    "trainer.limit_train_batches=4",
    "trainer.limit_val_batches=1",
    "events.flush_s=0",
]


class Server:
    def __init__(self, home: Path, *args: str, env: dict[str, str] | None = None):
        self.home, self.args = home, list(args)
        self.env = {"TRN_SERVE_TOKEN": TOKEN, "TRN_SERVE_READ_TOKEN": READ_TOKEN, **(env or {})}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.printed: list[str] = []  # what it printed before serving

    def start(self) -> Server:
        env = {**os.environ, "TRN_HOME": str(self.home), **self.env}
        env = {k: v for k, v in env.items() if v is not None}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "trn", "serve", "--port", str(self.port), *self.args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

        def answers() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"trn serve exited: {self.proc.stdout.read()}")  # type: ignore[union-attr]
            try:
                return httpx.get(self.url + "/api/v1/health", timeout=PATIENCE).is_success
            except httpx.TransportError:
                return False

        wait_until(answers, f"trn serve answering on {self.url}")
        for line in self.proc.stdout:  # type: ignore[union-attr]  # printed before serving
            self.printed.append(line)
            if "sign in:" in line:
                return self
        raise RuntimeError(f"trn serve printed no sign-in link: {self.printed}")

    def sign_in_link(self) -> str:
        """The one-time link it printed when it started."""
        return self.printed[-1].split("sign in: ", 1)[1].split()[0]

    def stop(self) -> str:
        """Stop it; everything it printed."""
        out = ""
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                out = self.proc.communicate(timeout=PATIENCE)[0]
            except subprocess.TimeoutExpired:
                self.proc.kill()
                out = self.proc.communicate()[0]
        return "".join(self.printed) + (out or "")

    def client(self, token: str | None = TOKEN, timeout: float = PATIENCE) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url + "/api/v1", headers=headers, timeout=timeout)


@pytest.fixture(name="server")
def fixture_server(trn_home):
    """A running ``trn serve`` over the test's $TRN_HOME, stopped after the test. A test module
    imports ``fixture_server`` to have it; the name differs so that the ``server`` argument does
    not shadow the import."""
    srv = Server(trn_home).start()
    yield srv
    srv.stop()


def sse(reply: httpx.Response) -> Iterator[tuple[str | None, dict]]:
    """``(id, event)`` for each message of an open event-stream reply."""
    event_id, data = None, []
    for line in reply.iter_lines():
        if line.startswith("id:"):
            event_id = line[3:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif not line and data:
            yield event_id, json.loads("\n".join(data))
            event_id, data = None, []


def wait_state(
    http: httpx.Client, job_id: str, states: set[str], timeout: float = PATIENCE
) -> dict:
    """The job's record once it is in one of ``states``; an ended job's once its terminal event
    is written too (the record is written a moment before it), so callers may read events."""
    from trn.lifecycle.end import settled
    from trn.registry.record import LIVE, JobRecord

    def reached() -> dict | None:
        record = http.get(f"/jobs/{job_id}").json()
        shown = record["state"]
        if shown in states and (shown in LIVE or settled(JobRecord.from_dict(record))):
            return record
        return None

    return wait_until(reached, f"job {job_id} in {sorted(states)}", timeout, every=0.3)
