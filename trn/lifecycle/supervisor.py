"""Carry out a plan: record the job, start the runner, pump its events, end the job.

The supervisor is the only writer of a job's record while the job lives, and it ends the job
(:func:`trn.lifecycle.end.end_job`) whatever happened to the runner (crash, signal, SIGKILL), so no
job is left ``running`` once its supervisor has returned.

Every process that hosts a job does it through the same three calls: :meth:`Supervisor.create`
(a new job: ``trn run``, a sweep's job, the Slurm launcher, a requeued Slurm job) or
:meth:`Supervisor.attach` (a job another process created: a detached supervisor, a Slurm job's
task 0), then :meth:`Supervisor.run`, which catches the stop signals (:data:`STOP_SIGNALS`)
while it runs. A process that leaves its job to another calls :meth:`Supervisor.hand_off`.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from trn import fsutil
from trn.config.objective import ranking
from trn.config.resolvers import fill
from trn.devices.threads import observed
from trn.events import sinks as event_sinks
from trn.events.writer import EventWriter
from trn.handoff import Launch, Outcome
from trn.jobdir import JobDir
from trn.lifecycle.echo import Echo
from trn.lifecycle.end import end_job
from trn.lifecycle.plan import Plan
from trn.lifecycle.spawn import start_runner
from trn.proc import catching, killpg, start_time
from trn.provenance.code import capture_project
from trn.provenance.environment import write_environment
from trn.registry.record import LIVE, JobRecord, JobState, utc_now
from trn.registry.store import Registry

# SIGUSR1: Slurm's --signal=USR1 reaches every process; forwarded, it is a preemption
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1)
GRACE_S = 60.0  # after a forwarded signal, how long the runner may take to save and exit


class Supervisor:
    """One job's supervisor. Made by :meth:`create` or :meth:`attach`, never directly."""

    def __init__(self, plan: Plan, echo: Callable[[dict[str, Any]], None] | None = None):
        self.plan = plan
        self.registry = Registry(plan.home)
        # shown off this thread: a console that blocks or breaks never stops the job's upkeep
        self.echo: Callable[[dict[str, Any]], None] = Echo(echo) if echo else lambda event: None
        self.stop_signal: int | None = None  # the first stop asked for (a signal's number)
        self.stop_at: float | None = None
        self.lease: Any = None  # GPU leases (trn.devices.leases), held from spawn to finalize
        self.events: EventWriter | None = None  # this process's writer of the job's events
        self._record: JobRecord | None = None

    @property
    def record(self) -> JobRecord:
        """The job's record as this supervisor keeps it (it writes every change)."""
        if self._record is None:
            raise RuntimeError("a Supervisor has a job once create() or attach() made it")
        return self._record

    # -- a job to supervise -----------------------------------------------------------------
    @classmethod
    def create(cls, plan: Plan, echo: Callable[[dict[str, Any]], None] | None = None) -> Supervisor:
        """A new job: its dir, files, ``submitted`` record and ``job_submitted``. A stop signal
        meanwhile waits for the job to exist (:attr:`stop_signal`; :meth:`run` then ends it at
        once, its runner never started)."""
        sup = cls(plan, echo)
        with sup.catching_stops():
            sup._record = sup._submit()
        return sup

    @classmethod
    def attach(
        cls,
        plan: Plan,
        job_dir: Path | str,
        echo: Callable[[dict[str, Any]], None] | None = None,
        **fields: Any,
    ) -> Supervisor:
        """Supervise the job in ``job_dir`` that another process created and handed off (a
        detached job; a Slurm job's task 0). Its record names this process from now on (a pid
        start left from the creating process would make it read as lost), with ``fields``
        (say, the nodes it runs on); its events continue where the creator's stopped."""
        sup = cls(plan, echo)
        record = JobRecord.from_dict(Registry.read(Path(job_dir)))
        _set(record, pid=os.getpid(), pid_start=start_time(os.getpid()), **fields)
        sup._record = record
        sup._open_events()
        sup.registry.write(record)
        return sup

    def hand_off(self, **fields: Any) -> JobRecord:
        """Leave the job to another process, which :meth:`attach`-es to it: ``fields`` written
        to the record, this process's event writer closed. The record, as written."""
        if fields:
            self.update(**fields)
        if self.events is not None:
            self.events.close()
            self.events = None
        return self.record

    def update(self, **fields: Any) -> None:
        """Write ``fields`` to the record (a handed-off job's: its new supervisor's pid)."""
        _set(self.record, **fields)
        self.registry.write(self.record)

    def end_unstarted(self) -> dict[str, Any]:
        """End a handed-off job ``failed``: the process it was left to never started."""
        self._open_events()
        return self._finalize(1, 0.0)

    def _submit(self) -> JobRecord:
        job_id, path = self.registry.create_job_dir()
        # the config's ${trn:job_dir} and ${trn:job_id} are this job's from now on
        self.plan = replace(self.plan, config=fill(self.plan.config, path, job_id))
        plan, job_dir = self.plan, JobDir(path)
        config_path = job_dir.config
        fsutil.atomic_write_bytes(
            config_path, yaml.safe_dump(plan.config, sort_keys=False).encode()
        )
        record = JobRecord(
            job_id=job_id,
            job_dir=str(path),
            attempt=plan.attempt,
            parent_job_id=plan.parent_job_id,
            sweep_id=plan.sweep_id,
            sweep_num=plan.sweep_num,
            sweep_point=plan.sweep_point,
            objective=ranking(plan.config),
            name=plan.config.get("name"),
            devices=plan.allocation.device_ids,
            hosts=plan.hosts,
            overrides=plan.overrides,
            config_path=str(config_path),
            pid=os.getpid(),
            pid_start=start_time(os.getpid()),
            heartbeat_s=plan.config.get("events", {}).get("heartbeat_s") or None,
            backend=plan.backend,
            rerun_of=plan.rerun_of,
            project=plan.project,
            mlflow_run_id=plan.mlflow_run_id,
            kind=plan.kind,
            evaluates=plan.evaluates,
        )
        # which code and environment made the job; neither call can raise
        root = plan.project.get("project_root")
        record.code = capture_project(root or Path.cwd(), job_dir.path, plan.home, found=bool(root))
        write_environment(job_dir.path, plan.allocation.to_dict())
        self.registry.write(record)
        self._record = record
        self._open_events()
        self._emit(
            "job_submitted",
            job_dir=str(path),
            config_path=str(config_path),
            devices=record.devices,
            overrides=record.overrides,
            parent_job_id=plan.parent_job_id,
            resumed_from_step=_resume_step(plan.config),
        )
        return record

    def _open_events(self) -> None:
        plan, record = self.plan, self.record
        self.events = EventWriter(
            JobDir(record.job_dir).path,
            record.job_id,
            source="cli",
            attempt=plan.attempt,
            sweep_id=plan.sweep_id,
            # every sink the config names: events.global / events.file / events.redis
            global_path=event_sinks.global_path(plan.config, plan.home),
            extra_sinks=event_sinks.from_config(plan.config),
        )

    # -- run --------------------------------------------------------------------------------
    def run(self, stops: Iterable[int] = ()) -> dict[str, Any]:
        """Start the runner, watch it and end the job; its final record, once every event
        shown so far reached the console (or :data:`trn.lifecycle.echo.DRAIN_S` passed).

        ``stops``: the stop signals this process received before (a cancel right after a
        detached job started). A list the caller's own handler still appends to is read once
        this supervisor's handlers are in place: a signal arrives either there or here."""
        try:
            return self._run_and_drain(stops)
        except KeyboardInterrupt:  # Ctrl-C after our handlers went back, the job not yet ended
            if self.record.state not in LIVE:
                raise
            self.request_stop(signal.SIGINT)
            return self._finalize(-signal.SIGINT, 0.0)

    def _run_and_drain(self, stops: Iterable[int]) -> dict[str, Any]:
        try:
            try:
                with self.catching_stops():
                    for signum in stops:
                        self.request_stop(signum)
                    return self._run()
            except KeyboardInterrupt:  # Ctrl-C in the instant before our handlers were in place
                self.request_stop(signal.SIGINT)
                return self._stopped_before_start()
        finally:
            if isinstance(self.echo, Echo):
                self.echo.close()

    @contextmanager
    def catching_stops(self) -> Iterator[None]:
        """:data:`STOP_SIGNALS` are this supervisor's meanwhile: they stop the job, whose
        record and files are never left half made (:func:`trn.proc.catching`: the main thread
        only; elsewhere the caller owns the signals)."""
        with catching(STOP_SIGNALS, self.request_stop):
            yield

    def _stopped_before_start(self) -> dict[str, Any]:
        """End a job stopped before its runner started: nothing ran, nothing to save."""
        name = signal.Signals(self.stop_signal or signal.SIGINT).name
        state = "cancelled" if self.stop_signal in (None, signal.SIGINT) else "preempted"
        outcome = Outcome(state, reason=f"received {name} before the runner started")
        fsutil.atomic_write_bytes(JobDir(self.record.job_dir).outcome, outcome.to_json().encode())
        return self._finalize(1, 0.0)

    def _run(self) -> dict[str, Any]:
        record = self.record
        job_dir = JobDir(record.job_dir)
        if self.stop_signal is not None:  # stopped while the job was being created
            return self._stopped_before_start()
        # Lease the GPUs right before the runner starts; while they are taken the job stays
        # `submitted` and a `devices_waiting` event says why. _finalize() releases them; if this
        # process dies, the lease's dead pid lets the next trn reclaim it.
        from trn.devices.manager import DevicesUnavailable, lease_for_job

        try:
            allocation, self.lease = lease_for_job(
                self.plan, record.job_id, self._emit, stopped=lambda: self.stop_signal is not None
            )
        except DevicesUnavailable as err:  # the runner never starts; _finalize says why
            fsutil.atomic_write_bytes(job_dir.outcome, err.outcome().to_json().encode())
            return self._finalize(1, 0.0)
        if allocation != self.plan.allocation:  # other GPUs (or threads) than the preview's
            self.plan = replace(self.plan, allocation=allocation)
            record.devices = allocation.device_ids
        record.threads = allocation.threads
        launch = Launch(allocation.to_dict(), allocation.trainer_kwargs())
        fsutil.atomic_write_bytes(job_dir.launch, launch.to_json().encode())
        env = {
            **os.environ,
            **allocation.env,
            **self.plan.env,
            "TRN_HOME": str(self.plan.home),
            "TRN_JOB_ID": record.job_id,
            "PYTHONUNBUFFERED": "1",
        }
        if self.stop_signal is not None:  # stopped while the devices were leased
            return self._stopped_before_start()
        # a stop from here on is forwarded to the runner (a warm parent may take seconds to fork)
        started = start_runner(self.plan, job_dir, env)
        proc = started.process
        record.state, record.started_at, record.runner_pid = (
            JobState.RUNNING.value,
            utc_now(),
            proc.pid,
        )
        record.start = started.start
        if started.warning:
            record.warnings.append(started.warning)
            self._emit("warning", message=started.warning)
        self.registry.write(record)
        rc = self._wait(proc, job_dir.events, record)
        if proc.note and proc.note not in record.warnings:
            record.warnings.append(proc.note)
        return self._finalize(rc, time.time() - started.at)

    def _emit(self, event: str, **fields: Any) -> None:
        """Write an event and show it (``echo`` takes the parsed event, as it does the runner's)."""
        assert self.events is not None  # open from create/attach until the job ends
        self.echo(json.loads(self.events.emit(event, **fields)))

    def request_stop(self, signum: int) -> None:
        """Stop the job as ``signum`` would: before its runner starts, it never starts; after,
        the signal is forwarded to the runner, which saves and exits."""
        self.stop_signal = signum
        self.stop_at = self.stop_at or time.time()

    def end_stopped(self, signum: int, rc: int) -> dict[str, Any]:
        """End the job now: its runner was stopped from outside this supervisor's loop, as
        ``signum`` stops it (Slurm's preemption warning, handled by submitit on this thread
        while :meth:`run` waits), and exited with ``rc``. An outcome it wrote still wins."""
        self.request_stop(signum)
        return self._finalize(rc, 0.0)

    def _wait(self, proc: Any, events_file: Path, record: JobRecord) -> int:
        offset, forwarded = 0, None
        while True:
            if self.stop_signal is not None and forwarded != self.stop_signal:
                forwarded = self.stop_signal
                killpg(proc.pid, forwarded)
            if self.stop_at and time.time() - self.stop_at > GRACE_S:
                killpg(proc.pid, signal.SIGKILL)
            rc = proc.wait(0.2)
            offset = self._pump(events_file, offset, record)
            if rc is not None:
                killpg(proc.pid, signal.SIGKILL)  # DDP ranks or workers left behind
                return int(rc)

    def _pump(self, path: Path, offset: int, record: JobRecord) -> int:
        """Show the runner's new events; keep the record's metrics and checkpoint current."""
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                chunk = f.read()
        except FileNotFoundError:
            return offset
        end = chunk.rfind(b"\n") + 1
        for line in chunk[:end].splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event["event"] == "warning" and event["message"] not in record.warnings:
                record.warnings.append(event["message"])  # a job warning, shown by `trn status`
                # trn's default objective fell back to another metric: rank by that one now
                record.objective = event.get("objective") or record.objective
                self.registry.write(record)
            if event.get("source") != "runner":
                continue
            if event["event"] == "job_started":
                record.startup_s = event.get("startup_s", record.startup_s)
                # logger=mlflow: the job's end makes sure this run ends
                record.mlflow_run_id = event.get("mlflow_run_id") or record.mlflow_run_id
                record.objective = event.get("objective") or record.objective
                record.threads = observed(record.threads, event.get("threads"))
                self.registry.write(record)
            if event["event"] == "heartbeat":  # `trn list` shows lost when these stop
                record.heartbeat_at = event["ts"]
                self.registry.write(record)
            if event["event"] == "metrics":
                record.metrics.update({k: v for k, v in event["metrics"].items() if v is not None})
            elif event["event"] == "checkpoint_saved":
                record.checkpoint = event["meta_path"]
                self.registry.write(record)
            self.echo(event)
        return offset + end

    # -- finalize ---------------------------------------------------------------------------
    def _finalize(self, rc: int, duration: float) -> dict[str, Any]:
        """End the job as its runner's outcome, its exit status and our stop signal say."""
        record = self.record
        said = JobDir(record.job_dir).read_outcome()
        if said is not None:
            state = said.state
        elif self.stop_signal is not None:  # the runner died without a word
            state = "cancelled" if self.stop_signal == signal.SIGINT else "preempted"
        else:
            state = "failed"
        outcome = said or Outcome(state)
        # a runner that wrote "completed" and then got our forwarded stop signal while it exited
        # (Python restores the default handlers at exit) did complete
        finished = self.stop_signal is not None and rc == -self.stop_signal
        if state == "completed" and rc != 0 and not finished:
            state = "failed"
        if state == "failed" and self.stop_signal == signal.SIGINT:
            if (outcome.error or "").startswith("KeyboardInterrupt"):
                # Ctrl-C reached the runner during start-up, before its handlers were installed
                state = "cancelled"
                outcome = replace(outcome, reason="interrupted during start-up")
        if self.lease is not None:  # the GPUs go back before the job ends
            self.lease.release()
        return end_job(
            record,
            state,
            exit_code=rc,
            duration_s=duration,
            outcome=replace(outcome, state=state),
            events=self.events,
            echo=self.echo,
        )


def _set(record: JobRecord, **fields: Any) -> None:
    for name, value in fields.items():
        if not hasattr(record, name):
            raise TypeError(f"a job record has no field {name!r}")
        setattr(record, name, value)


def _resume_step(config: dict[str, Any]) -> int | None:
    """The step of the checkpoint a resumed job continues (its meta was verified at plan time)."""
    if not config.get("resume"):
        return None
    from trn.checkpoints.meta import read_meta

    try:
        return int(read_meta(Path(config["resume"]))["step"])
    except Exception:  # noqa: BLE001 - only shown to people; the runner verifies it again
        return None
