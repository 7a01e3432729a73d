"""Drive trn from Python: the same validation, records and events as ``trn run``.

::

    import trn

    job = trn.submit(["optimizer.lr=3e-4"], profile="dev")   # validated, recorded, detached
    for event in job.events():                                # follows until the job ends
        print(event["event"], event.get("metrics"))
    record = job.wait()                                       # JobFailed unless completed
    trn.jobs(state="completed")                               # records, newest first

Jobs always run in their own detached supervisor process (exactly ``trn run --detach``), so the
calling program never imports torch and may exit while jobs run on. Errors are typed:
:class:`~trn.errors.ConfigError` (``.problems`` lists every one), :class:`~trn.errors.UsageError`,
:class:`~trn.errors.NotFound`, :class:`~trn.errors.JobFailed` (``.record``, ``.state``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from trn.errors import UsageError
from trn.jobdir import HomeDir, JobDir
from trn.registry.record import ENDED, TERMINAL, JobView, view
from trn.registry.store import Registry
from trn.waiting import wait_for_end

POLL_S = 0.2


class Job:
    """A handle on one job, by id; cheap to create, holds no process or open file."""

    def __init__(self, job_id: str, job_dir: str | Path):
        self.job_id = job_id
        self.job_dir = Path(job_dir)

    def __repr__(self) -> str:
        return f"Job({self.job_id!r})"

    def record(self) -> dict[str, Any]:
        """The job record now (``job.json``) as JSON, with ``lost`` as its ``state`` when
        nobody will end the job (its supervisor is gone): :meth:`view`'s ``to_dict()``."""
        return self.view().to_dict()

    def view(self) -> JobView:
        """The job now, typed: ``.record`` (a :class:`~trn.registry.record.JobRecord`) as
        ``job.json`` stores it, and ``.state`` as shown (``lost`` where it is)."""
        return view(Registry.load(self.job_dir))

    def status(self) -> str:
        """The job's state: submitted, running, completed, failed, cancelled, preempted, lost."""
        return self.view().state

    def wait(self, timeout: float | None = None, *, check: bool = True) -> dict[str, Any]:
        """Block until the job ends; its final record. ``check``: raise :class:`JobFailed`
        unless it completed. :class:`TimeoutError` after ``timeout`` seconds. Its terminal
        event is written by then: ``events(follow=False)`` ends with it."""
        return wait_for_end(
            self.job_id,
            self.record,
            ENDED,
            timeout,
            check,
            POLL_S,
            lambda _shown: self.ended_for_followers(),
        )

    def events(self, follow: bool = True) -> Iterator[dict[str, Any]]:
        """The job's events from the first; with ``follow``, new ones as they come, until the
        terminal event (or until the job is ``lost``)."""
        from trn.events.reader import TERMINAL_EVENTS, read_new
        from trn.events.reader import follow as follow_lines

        path = JobDir(self.job_dir).events
        lines = follow_lines(path, done=lambda: self.ended_for_followers()) if follow else None
        for line in lines if lines is not None else read_new(path, 0)[0]:
            if not line.strip():
                continue
            event = json.loads(line)
            yield event
            if event.get("event") in TERMINAL_EVENTS:
                return

    def ended_for_followers(self) -> bool:
        """Whether a follower of the job's events has seen all there will be: the job ended,
        and its terminal event is written (its end writes the record a moment before it)."""
        from trn.lifecycle.end import settled

        return settled(Registry.load(self.job_dir))

    def cancel(self) -> None:
        """Ask the job to stop, as ``trn cancel`` does: it stops at the next step boundary,
        saves, and is recorded ``cancelled`` (a ``lost`` job is marked so at once). Returns
        without waiting (``wait()`` does); a no-op once it ended."""
        from trn.lifecycle.cancel import request_job

        record = Registry.load(self.job_dir)
        if record.state in TERMINAL:
            return
        request_job(Registry.of_job(self.job_dir), record)


def submit(
    overrides: Sequence[str] = (),
    *,
    config: str | Path | None = None,
    weights: str | Path | None = None,
    profile: str | None = None,
    devices: str | None = None,
    log_dir: str | Path | None = None,
    event_log: str | Path | None = None,
    config_dir: str | Path | None = None,
    home: str | Path | None = None,
) -> Job:
    """Validate, record and start a job in the background (``trn run --detach``); its handle.

    The keyword arguments are ``trn run``'s flags (``--config``, ``--weights``, ...);
    ``config_dir`` is ``--config-dir``: a project's configs, searched before trn's own;
    ``home``: the job's ``$TRN_HOME`` (default: the environment's), given to every step rather
    than set in the environment, so a server over one home never writes into another."""
    if isinstance(overrides, str) or not all(isinstance(o, str) for o in overrides or []):
        raise TypeError("overrides is a list of strings, e.g. ['optimizer.lr=1e-3']")
    from trn.config.flags import Flags
    from trn.lifecycle.backends.local import LOCAL
    from trn.lifecycle.planning import plan_with_flags

    def text(value: Any) -> str | None:
        return None if value is None else str(value)

    flags = Flags(
        config=text(config),
        weights=text(weights),
        profile=profile,
        devices=devices,
        log_dir=text(log_dir),
        event_log=text(event_log),
        config_dir=text(config_dir),
    )
    chosen = {"home": Path(home)} if home is not None else {}
    record = LOCAL.submit(plan_with_flags(flags, list(overrides), **chosen))
    return Job(record.job_id, record.job_dir)


def run(
    overrides: Sequence[str] = (), *, wait: bool = True, timeout: float | None = None, **flags: Any
) -> Any:
    """:func:`submit`, then (``wait=True``) the finished record; :class:`JobFailed` unless
    it completed. ``wait=False`` returns the :class:`Job` at once."""
    job = submit(overrides, **flags)
    return job.wait(timeout) if wait else job


def jobs(
    state: str | None = None,
    sweep: str | None = None,
    limit: int | None = None,
    home: str | Path | None = None,
    kind: str | None = None,
) -> list[dict[str, Any]]:
    """Job records as JSON, newest first (``trn list --json``; each ``state`` as shown, so
    ``lost`` where it is); ``home`` defaults to ``$TRN_HOME``; ``kind``: only ``train`` or only
    ``eval`` jobs. :func:`job_views` gives them typed."""
    return [v.to_dict() for v in job_views(state, sweep, limit, home, kind)]


def job_views(
    state: str | None = None,
    sweep: str | None = None,
    limit: int | None = None,
    home: str | Path | None = None,
    kind: str | None = None,
) -> list[JobView]:
    """:func:`jobs`, typed: each job's record as stored and its state as shown."""
    from trn.ids import check_job_id
    from trn.registry.record import STATES

    if state is not None and state not in STATES:
        raise UsageError(f"state={state!r} is not a job state; use one of {', '.join(STATES)}")
    registry = Registry(Path(home) if home else None)
    if sweep:
        from trn.registry.sweeps import sweep_id_of

        sweep = sweep_id_of(registry.home, check_job_id(sweep))  # a unique prefix works
    if kind not in (None, "train", "eval"):
        raise UsageError(f"kind={kind!r}: use 'train' or 'eval'")
    return [view(r) for r in registry.list(state, sweep, limit, kind)]


def job(job_id: str, home: str | Path | None = None) -> Job:
    """The handle of an existing job (a unique id prefix works); :class:`NotFound` if none."""
    record = Registry(Path(home) if home else None).find(job_id)
    return Job(record.job_id, record.job_dir)


def resume(job_id: str, overrides: Sequence[str] = (), home: str | Path | None = None) -> Job:
    """A new job continuing ``job_id``'s newest valid checkpoint (``trn resume --detach``);
    its handle. ``overrides`` go on top, with the same refusals as ``trn resume``; ``home``:
    where both jobs live (default ``$TRN_HOME``)."""
    from trn.ids import check_job_id
    from trn.lifecycle.backends.local import LOCAL
    from trn.lifecycle.resume import plan_resume

    where = Path(home) if home else None
    record = LOCAL.submit(plan_resume(check_job_id(job_id), list(overrides), home=where))
    return Job(record.job_id, record.job_dir)


def evaluate(
    target: str | Path,
    overrides: Sequence[str] = (),
    *,
    stage: str = "test",
    home: str | Path | None = None,
) -> Job:
    """An eval job of a checkpoint (``trn eval --detach``): ``trainer.test`` (``stage=
    "validate"``: ``trainer.validate``) on a job's best checkpoint (``target`` a job id) or a
    checkpoint's ``.meta.json``, with the job's model and data config and ``overrides`` on top;
    its handle. Its record has ``kind: "eval"``; its metrics are the module's ``test/*``."""
    from trn.lifecycle.backends.local import LOCAL
    from trn.lifecycle.evaluate import plan_eval

    if isinstance(overrides, str):
        raise TypeError("overrides is a list of strings, e.g. ['data.batch_size=32']")
    where = Path(home) if home else None
    plan = plan_eval(  # safe: an eval *job* (trainer.test), nothing is eval()ed
        str(target), list(overrides), stage=stage, home=where
    )
    record = LOCAL.submit(plan)
    return Job(record.job_id, record.job_dir)


def resume_sweep(
    sweep_id: str,
    *,
    retry_failed: bool = False,
    include_pruned: bool = False,
    force: bool = False,
    fail_fast: bool = False,
    home: str | Path | None = None,
) -> dict[str, Any]:
    """Continue an interrupted, cancelled or lost sweep, detached (``trn resume SWEEP
    --detach``); ``{sweep_id, sweep_dir, jobs, pid, attempt}``. :class:`NothingToDo` when every
    point is done; :class:`UsageError` when it runs, is incomplete or changed (``force``)."""
    from trn.lifecycle.detach import submit_sweep as start_sweep
    from trn.lifecycle.sweep_resume import ResumeOptions
    from trn.paths import trn_home

    options = ResumeOptions(retry_failed, include_pruned, force)
    root = Path(home) if home else trn_home()
    return start_sweep([], root, fail_fast=fail_fast, resume=(sweep_id, options))


def submit_sweep(overrides: Sequence[str], home: str | Path | None = None) -> dict[str, Any]:
    """Check every job of a sweep and start it detached (``trn run -m --detach``);
    ``{sweep_id, sweep_dir, jobs, pid}``; ``home`` defaults to ``$TRN_HOME``."""
    from trn.lifecycle.detach import submit_sweep as start_sweep
    from trn.paths import trn_home

    return start_sweep(list(overrides), Path(home) if home else trn_home())


def sweep(sweep_id: str, home: str | Path | None = None) -> dict[str, Any]:
    """A sweep now: its jobs sorted by the objective (``summary.json`` once it ended), which
    overrides it varies, and ``state`` (``running`` until its ``sweep_completed`` event)."""
    from trn.jobdir import SWEEP_SUMMARY
    from trn.launcher.summary import summarize, varying
    from trn.paths import trn_home
    from trn.registry.sweeps import (
        attempts,
        find_sweep,
        no_sweep,
        sweep_alive,
        sweep_end,
        sweep_started,
    )
    from trn.timestamps import seconds

    root = Path(home) if home else trn_home()
    sweep_dir = find_sweep(root, sweep_id)  # a unique prefix works
    if sweep_dir is None:
        raise no_sweep(root, sweep_id)
    end, tries = sweep_end(sweep_dir), attempts(sweep_dir)
    summary = None
    try:  # ended: the summary its process left, if this attempt's
        left = json.loads((sweep_dir / SWEEP_SUMMARY).read_text())
        if end is not None and left.get("attempt", 1) == len(tries):
            summary = left
    except (OSError, ValueError):
        pass
    if summary is None:
        state = (end or {}).get("state") or ("running" if sweep_alive(sweep_dir) else "lost")
        if end is not None:
            took = float(end.get("duration_s") or 0.0)
        else:  # running: since this attempt started
            since = seconds(tries[-1]["started_at"]) if tries else None
            took = time.time() - since if since else 0.0
        objective = sweep_started(sweep_dir).get("objective") or {}
        records = job_views(sweep=sweep_dir.name, home=root)
        summary = summarize(sweep_dir.name, records, objective, state, took)
    summary["varied"] = sorted(varying(summary["jobs"]))
    summary["sweep_dir"] = str(sweep_dir)
    summary["attempts"] = tries
    return summary


def sweeps(
    limit: int | None = 20, offset: int = 0, home: str | Path | None = None
) -> list[dict[str, Any]]:
    """Sweeps, newest first: each one's :func:`sweep` without its rows (``sweep_id``, ``state``,
    ``objective``, ``best``, ``counts`` of its jobs per state, ``jobs``, ``varied``,
    ``started_at``). ``limit`` None: every one."""
    from trn.paths import trn_home
    from trn.registry.sweeps import sweep_started

    root = Path(home) if home else trn_home()
    dirs = sorted(
        HomeDir(root).sweep_dirs(),
        key=lambda p: (p.parent, p.name),
        reverse=True,
    )
    out = []
    for sweep_dir in dirs[offset : None if limit is None else offset + limit]:
        summary = sweep(sweep_dir.name, root)
        rows = summary.pop("jobs")
        summary.update(jobs=len(rows), started_at=sweep_started(sweep_dir).get("ts"))
        out.append(summary)
    return out
