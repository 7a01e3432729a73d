"""Ending a job: one function for every path that ends one.

The supervisor ends the jobs it runs; the launcher ends a job whose supervisor was killed (the
reaper), or one Slurm dropped or cancelled; ``trn cancel`` ends a job that is ``lost``. All of
them call :func:`end_job`, which writes, in this order: the final record (``job.json`` and the
index), the terminal event to every sink the job's config names (its file, the global stream,
``events.file``, Redis), the job's line in ``jobs/index.jsonl``, and last the notification its
config asks for (:mod:`trn.lifecycle.notify`), after ending its MLflow run if its runner could
not (:func:`trn.runner.tracking.end_run`). A job already ended is left
as it is: no second event, no second line. Whoever ends it, a job whose runner left an
``outcome.json`` ends as the runner said (state, metrics, checkpoint).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trn import fsutil, proc
from trn.handoff import Outcome
from trn.jobdir import HomeDir, JobDir
from trn.lifecycle import notify
from trn.registry.record import LIVE, TERMINAL, JobRecord, utc_now, view
from trn.timestamps import seconds

LOG_TAIL = 20  # runner.log lines kept in a failed job's record and event
REAP_WAIT_S = 60.0  # how long a runner whose supervisor died may take to checkpoint and exit


def end_job(
    record: JobRecord,
    state: str,
    *,
    reason: str | None = None,
    exit_code: int | None = None,
    duration_s: float | None = None,
    outcome: Outcome | None = None,
    events: Any = None,
    echo: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """End the job of ``record`` as ``state`` (how its caller saw it end) and return the final
    record as its JSON; ``record`` is updated in place to it.

    ``outcome``: the runner's word (default: the job dir's ``outcome.json``); its state, metrics
    and checkpoint win over the caller's. ``reason``: why, when the outcome does not say.
    ``events``: the caller's open event writer (the supervisor's); otherwise one is opened on
    the sinks of the job's resolved config, as source ``launcher``. ``echo``: shown the
    terminal event."""
    job_dir = JobDir(record.job_dir)
    on_disk = _read_json(job_dir.record)
    if on_disk.get("state") in TERMINAL:  # ended already: by its supervisor, or a first call
        ended = JobRecord.from_dict({**record.to_dict(), **on_disk})
        for f in dataclasses.fields(JobRecord):  # the caller's record is the one that ended
            setattr(record, f.name, getattr(ended, f.name))
        if events is not None:
            events.close()
        return on_disk
    outcome = job_dir.read_outcome() if outcome is None else outcome
    if outcome is None:  # the runner left no word: the caller's state, and nothing else
        outcome = Outcome(state)
    state = outcome.state
    if duration_s is None:
        duration_s = _since(record.started_at)
    said = _finish(record, state, outcome, reason, exit_code, duration_s, job_dir)
    from trn.registry.store import Registry

    registry = Registry.of_job(job_dir.path)
    registry.write(record)
    config = _config(job_dir)
    writer = events if events is not None else _writer(record, job_dir, registry.home, config)
    try:
        writer.resync()  # the runner wrote its events after the supervisor's last one
        line = writer.emit(f"job_{state}", **said)
        if echo is not None:
            echo(json.loads(line))
        append_manifest(registry.home, record)
        # last, as they may take a while each (bounded): everything else about the end is written
        problems = [
            _end_mlflow_run(record, config, outcome),
            notify.send(config.get("notify"), json.loads(line)),
        ]
        for problem in filter(None, problems):  # the job ended as it ended; telemetry did not
            record.warnings.append(problem)
            registry.write(record)
            writer.emit("warning", message=problem)
    finally:
        writer.close()
    return record.to_dict()


def _finish(
    rec: JobRecord,
    state: str,
    outcome: Outcome,
    reason: str | None,
    exit_code: int | None,
    duration_s: float,
    job_dir: JobDir,
) -> dict[str, Any]:
    """Bring the record to its final state; the terminal event's own fields."""
    rec.state, rec.ended_at = state, utc_now()
    if exit_code is not None:
        rec.exit_code = exit_code
    rec.metrics.update(outcome.metrics)
    rec.checkpoint = outcome.checkpoint or rec.checkpoint
    if outcome.resume_exact is not None:
        rec.resume_exact = outcome.resume_exact
    rec.mlflow_run_id = outcome.mlflow_run_id or rec.mlflow_run_id
    rec.objective = outcome.objective or rec.objective
    fields: dict[str, Any] = {"duration_s": round(max(duration_s, 0.0), 3), "metrics": rec.metrics}
    if state == "failed":
        rec.error = outcome.error or reason or exit_reason(exit_code)
        rec.extra["log_tail"] = tail(job_dir.runner_log, LOG_TAIL)
        fields.update(
            error=rec.error,
            exit_code=exit_code if exit_code is not None else -1,
            log_tail=rec.extra["log_tail"],
            step=outcome.step,
        )
    elif state == "completed":
        fields["checkpoint"] = rec.checkpoint
        if outcome.reason:  # it stopped before its limits: a callback said why
            rec.stop_reason = fields["reason"] = outcome.reason
        if exit_code is not None:  # a reaper does not know it
            fields["exit_code"] = exit_code
    else:
        rec.error = outcome.reason or reason or exit_reason(exit_code)
        fields.update(reason=rec.error, checkpoint=rec.checkpoint)
        if state == "pruned":  # early stopping's decision: the rung and why
            rec.pruned = outcome.pruned
            fields["pruned"] = rec.pruned
    return fields


def _end_mlflow_run(rec: JobRecord, config: dict[str, Any], outcome: Outcome) -> str | None:
    """End the job's MLflow run if its runner did not (killed, or died before it could): a
    problem, or None. MLflow is imported only here, for a job that logged to it."""
    uri = ((config.get("logger") or {}).get("mlflow") or {}).get("tracking_uri")
    if not rec.mlflow_run_id or not uri:
        return None
    from trn.runner.tracking import STATUS, end_run

    said = outcome.mlflow_status
    if said == STATUS.get(rec.state):
        return None  # the runner ended it, as the job ended
    # the runner ended it otherwise (a Ctrl-C it took for a failure): set it; it never said:
    # end it only if still RUNNING (a resume's run the runner never reached stays as it was)
    return end_run(uri, rec.mlflow_run_id, rec.state, only_running=said is None)


def _config(job_dir: JobDir) -> dict[str, Any]:
    """The job's resolved config; ``{}`` without one (the defaults: no extra sinks, no notify)."""
    import yaml

    try:
        config = yaml.safe_load(job_dir.config.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {}
    return config if isinstance(config, dict) else {}


def _writer(rec: JobRecord, job_dir: JobDir, home: Path, config: dict[str, Any]) -> Any:
    """An event writer on every sink the job's resolved config names."""
    from trn.events import sinks as event_sinks
    from trn.events.writer import EventWriter

    return EventWriter(
        job_dir.path,
        rec.job_id,
        source="launcher",
        attempt=rec.attempt or 1,
        sweep_id=rec.sweep_id,
        global_path=event_sinks.global_path(config, home),
        extra_sinks=event_sinks.from_config(config),
    )


def append_manifest(home: Path, record: JobRecord) -> None:
    """``jobs/index.jsonl``: one line per job reaching a terminal state."""
    manifest = HomeDir(home).manifest
    manifest.parent.mkdir(parents=True, exist_ok=True)
    fsutil.append_line(manifest, json.dumps(record.to_dict(), sort_keys=True))


# -- the reaper -----------------------------------------------------------------------------
def reap(submitted: Path, rc: int | None, cancelled: bool) -> None:
    """After a job process exited: if its job never ended, end it here.

    ``submitted`` is the file the job process wrote its record to once it existed. A runner
    left alive is stopped: on a cancelled sweep it has had its SIGINT and its grace already, so
    it is killed; otherwise it gets SIGTERM, saves a checkpoint and says ``preempted`` (or
    finishes), within :data:`REAP_WAIT_S`."""
    from trn.registry.store import Registry

    try:
        record = Registry.load(Path(json.loads(submitted.read_text())["job_dir"]))
    except (OSError, ValueError, KeyError, TypeError):
        return  # no job was created: nothing to end
    if record.state not in LIVE:
        return
    runner = record.runner_pid
    if runner and not cancelled:
        stop_runner(runner, signal.SIGTERM, REAP_WAIT_S)
    elif runner:
        proc.killpg(runner, signal.SIGKILL)
    if cancelled:
        end_job(record, "cancelled", reason="killed after the sweep was cancelled")
    else:
        end_job(record, "failed", reason=f"its supervisor exited ({rc}) before the job ended")


def stop_runner(pid: int, sig: int, wait_s: float) -> None:
    """``sig`` to a runner that is not our child (it leads its own process group); SIGKILL if
    it has not exited after ``wait_s``."""
    proc.killpg(pid, sig)
    deadline = time.monotonic() + wait_s
    while proc.alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.killpg(pid, signal.SIGKILL)  # anything left in its group: DDP ranks, loader workers


# -- reading a job dir ----------------------------------------------------------------------
SETTLE_S = 5.0  # a record ended longer ago than this has all the events it will get


def settled(record: JobRecord) -> bool:
    """For a follower of a job's events: the job has ended and its terminal event is written.

    :func:`end_job` writes the record a moment before the event, so a record that ended just
    now waits for its event; one ended :data:`SETTLE_S` ago (its ender died in between), or a
    ``lost`` job, has nothing more coming."""
    state = view(record).state
    if state in LIVE:
        return False
    if state not in TERMINAL or _since(record.ended_at) > SETTLE_S:
        return True
    return f"job_{state}" in _last_events(JobDir(record.job_dir).events)


def _last_events(path: Path, n: int = 20) -> set[str]:
    """The names of the last ``n`` events of a file (a warning may follow the terminal one)."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - 65536))
            lines = f.read().splitlines()[-n:]
    except OSError:
        return set()
    names = set()
    for line in lines:
        try:
            names.add(str(json.loads(line).get("event")))
        except (ValueError, AttributeError):
            continue
    return names


def exit_reason(rc: int | None) -> str:
    if rc is None:
        return "the job ended without an exit status"
    if rc < 0:
        return f"runner killed by {signal.Signals(-rc).name}"
    return f"runner exited with code {rc}"


def tail(path: Path, n: int) -> list[str]:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - 16384))
            return [ln.decode(errors="replace") for ln in f.read().splitlines()[-n:]]
    except OSError:
        return []


def _since(started_at: str | None) -> float:
    at = seconds(started_at)
    return 0.0 if at is None else time.time() - at


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
