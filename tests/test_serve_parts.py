"""trn serve's pieces with a clock of their own: sign-in codes and sessions expire when they
should, and a job's progress and ETA are computed from its events as docs/serve.md says."""

from __future__ import annotations

import json
from pathlib import Path

from trn.serve.progress import Trackers
from trn.serve.session import Sessions

TOKEN = "test-token-0123456789abcdef"


class Clock:
    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_code_works_once_within_its_time_and_a_session_until_it_expires():
    clock = Clock()
    sessions = Sessions(TOKEN, link_ttl_s=600, session_ttl_s=3600, clock=clock)
    late, once = sessions.new_code(), sessions.new_code()
    session, until = sessions.redeem(once) or ("", 0.0)
    assert until == clock.now + 3600 and sessions.valid(session)
    assert sessions.redeem(once) is None  # spent
    clock.now += 601
    assert sessions.redeem(late) is None  # expired
    assert sessions.valid(session)
    clock.now += 3000
    assert not sessions.valid(session)  # 3601 s after it was made
    # the signature is keyed by the token: a new token ends every session at once
    fresh, _ = sessions.new_session()
    assert sessions.valid(fresh)
    assert not Sessions("a-new-token-0123456789abcdef", clock=clock).valid(fresh)
    for bad in ("", "trns", "trns.1.2", fresh + "x", "x" + fresh, TOKEN):
        assert not sessions.valid(bad)


def test_codes_that_expired_unused_are_forgotten():
    clock = Clock()
    sessions = Sessions(TOKEN, link_ttl_s=10, clock=clock)
    for _ in range(50):
        sessions.new_code()
    clock.now += 11
    sessions.new_code()
    assert len(sessions.codes) == 1


def events(path: Path, *items: dict) -> None:
    with open(path, "a") as f:
        for item in items:
            f.write(json.dumps(item) + "\n")


def at(seconds: float) -> str:
    from datetime import datetime, timezone

    stamp = datetime.fromtimestamp(1_800_000_000 + seconds, timezone.utc)
    return stamp.isoformat().replace("+00:00", "Z")


def test_progress_is_steps_over_the_runner_total_and_eta_is_what_is_left_at_the_jobs_rate(
    tmp_path,
):
    path = tmp_path / "events.jsonl"
    trackers = Trackers()
    assert trackers.progress(path).fraction is None  # no events yet
    events(
        path,
        {"event": "job_submitted", "ts": at(0)},
        {"event": "job_started", "ts": at(5), "total_steps": 1000, "max_epochs": 10},
    )
    assert trackers.progress(path).step is None
    # a resumed job: its steps go on from its parent's 400, its rate is its own
    events(path, {"event": "metrics", "phase": "train", "step": 400, "epoch": 4, "ts": at(10)})
    first = trackers.progress(path)
    assert (first.unit, first.fraction, first.eta_s) == ("steps", 0.4, None)  # no rate yet
    events(
        path,
        {"event": "heartbeat", "step": 450, "epoch": 4, "ts": at(20)},
        {"event": "metrics", "phase": "epoch", "step": 500, "epoch": 4, "ts": at(30)},
    )
    p = trackers.progress(path)
    assert (p.step, p.epoch, p.epochs_done, p.total_steps) == (500, 4, 5, 1000)
    assert p.fraction == 0.5 and p.per_s == 5.0  # 100 steps in 20 s
    now = 1_800_000_000 + 30
    assert Trackers().progress(path).to_dict().keys() == p.to_dict().keys()
    tracker = trackers.known[path]
    assert tracker.progress(now=now).eta_s == 100.0  # 500 left at 5/s
    assert tracker.progress(now=now + 40).eta_s == 60.0  # counts down between events
    assert tracker.progress(now=now + 500).eta_s == 0.0


def test_without_a_step_total_progress_counts_epochs_and_without_either_only_the_step(tmp_path):
    path = tmp_path / "events.jsonl"
    events(
        path,
        {"event": "job_started", "ts": at(0), "total_steps": None, "max_epochs": 4},
        {"event": "metrics", "phase": "train", "step": 10, "epoch": 0, "ts": at(10)},
        {"event": "metrics", "phase": "epoch", "step": 20, "epoch": 0, "ts": at(30)},
    )
    trackers = Trackers()
    p = trackers.progress(path)
    assert (p.unit, p.done, p.total, p.fraction) == ("epochs", 1.0, 4.0, 0.25)
    assert p.per_s == 1 / 20 and trackers.known[path].progress(now=1_800_000_030).eta_s == 60.0

    endless = tmp_path / "endless.jsonl"
    events(
        endless,
        {"event": "job_started", "ts": at(0), "total_steps": None, "max_epochs": -1},
        {"event": "heartbeat", "step": 7, "epoch": 0, "ts": at(3)},
    )
    p = Trackers().progress(endless)
    assert (p.step, p.unit, p.fraction, p.eta_s) == (7, None, None, None)


def test_the_tracker_map_is_bounded_and_reads_only_what_was_appended(tmp_path):
    trackers = Trackers(size=3)
    paths = [tmp_path / f"{i}.jsonl" for i in range(5)]
    for path in paths:
        events(path, {"event": "job_started", "ts": at(0), "total_steps": 10, "max_epochs": 1})
        trackers.progress(path)
    assert list(trackers.known) == paths[2:]
    offset = trackers.known[paths[4]].offset
    assert offset == paths[4].stat().st_size
    events(paths[4], {"event": "heartbeat", "step": 3, "epoch": 0, "ts": at(1)})
    assert trackers.progress(paths[4]).fraction == 0.3
