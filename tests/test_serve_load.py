"""Bounded load on loopback: many followers of one job, many submits at once. Sized for a
2-core machine: cheap jobs, and every job is ended before the test returns."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from conftest import FAST, run_trn, wait_until
from serve_support import (
    TOKEN,
    fixture_server,  # noqa: F401  (the `server` fixture)
    wait_state,
)

pytestmark = pytest.mark.slow
FOLLOWERS, SUBMITS = 50, 20
ENDED = {"completed", "failed", "cancelled", "preempted", "lost"}


async def follow_all(url: str, job_id: str, n: int) -> list[list[tuple[int, int, str]]]:
    """``n`` concurrent followers of one job; each one's ``(sse id, seq, event)`` list."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    limits = httpx.Limits(max_connections=n + 5)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=300, limits=limits) as c:

        async def one() -> list[tuple[int, int, str]]:
            got, event_id = [], None
            async with c.stream("GET", f"/api/v1/jobs/{job_id}/events") as reply:
                async for line in reply.aiter_lines():
                    if line.startswith("id:"):
                        event_id = int(line[3:])
                    elif line.startswith("data:"):
                        event = json.loads(line[5:])
                        got.append((event_id, event["seq"], event["event"]))
            return got

        return await asyncio.gather(*(one() for _ in range(n)))


def test_fifty_followers_of_a_running_job_each_get_every_event_in_order(server):
    http = server.client()
    overrides = [*FAST, "trainer.max_epochs=3", "events.flush_s=0"]
    job = http.post("/jobs", json={"overrides": overrides}).json()
    streams = asyncio.run(follow_all(server.url, job["job_id"], FOLLOWERS))
    first = streams[0]
    assert len(first) >= 10 and first[-1][2] == "job_completed"
    assert [seq for _, seq, _ in first] == list(range(len(first)))  # no gaps, in order
    assert all(event_id == seq for event_id, seq, _ in first)
    assert all(s == first for s in streams)  # every follower saw exactly the same
    wait_until(lambda: http.get("/health").json()["streams"] == 0, "every stream ended")


def test_twenty_submits_at_once_make_exactly_twenty_jobs(server, trn_home):
    def submit(i: int) -> httpx.Response:
        with server.client(timeout=600) as c:  # submits run one at a time: the last one waits
            return c.post("/jobs", json={"overrides": FAST, "name": f"load {i}"})

    with ThreadPoolExecutor(SUBMITS) as pool:
        replies = list(pool.map(submit, range(SUBMITS)))
    http = server.client()
    try:
        assert [r.status_code for r in replies] == [201] * SUBMITS, [r.text for r in replies]
        made = {r.json()["job_id"] for r in replies}
        assert len(made) == SUBMITS
        listed = http.get("/jobs", params={"limit": 100}).json()["jobs"]
        assert {r["job_id"] for r in listed} == made
        assert {r["name"] for r in listed} == {f"load {i}" for i in range(SUBMITS)}
        cli = json.loads(run_trn("list", "--json", "--all", env={"TRN_HOME": str(trn_home)}).stdout)
        assert {r["job_id"] for r in cli} == made
        assert len(list((trn_home / "runs").glob("*/*/*/*/job.json"))) == SUBMITS
    finally:  # twenty trainings would take minutes here: stop them all
        ids = [r.json()["job_id"] for r in replies if r.status_code == 201]
        for job_id in ids:
            http.post(f"/jobs/{job_id}/cancel")
        for job_id in ids:
            wait_state(http, job_id, ENDED)
