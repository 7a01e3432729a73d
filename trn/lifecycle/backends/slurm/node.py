"""What runs inside a Slurm job: the supervisor on task 0, the runner on every task.

submitit starts one task per (node x ``tasks_per_node``) with ``srun``, each a ``python -m
submitit.core._submit`` process (submitit's, not trn's: its SIGUSR2 handler is what checkpoints
and requeues), which runs :class:`NodeJob`. Task 0 attaches to the job the launcher created
(:meth:`Supervisor.attach`) and supervises it like ``trn run`` does (record, events, the
runner); the others run their runner only, as ranks of Lightning's ``SLURMEnvironment``. On
preemption or timeout (SIGUSR2 from ``--signal``) task 0 stops its runner with SIGTERM (a
checkpoint, then ``preempted``) and requeues :class:`ResumeJob`, which continues from that
checkpoint through :func:`trn.lifecycle.resume.plan_resume` as a new job with ``attempt + 1``.
The plan reaches the node as JSON (:meth:`~trn.lifecycle.plan.Plan.to_json`), inside submitit's
pickle of :class:`NodeJob`. Every runner is ``python -m trn.runner JOB_DIR``, which ignores
SIGUSR2: Slurm's ``--signal`` reaches every process of the step, and the warning is task 0's to
act on.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from trn.jobdir import JobDir
from trn.lifecycle.plan import Plan
from trn.proc import catching, killpg

STOP_WAIT_S = 60.0  # how long a preempted runner may take to checkpoint and exit
LAUNCH_WAIT_S = 300.0  # how long a rank > 0 waits for task 0 to write the job's launch.json
RANK_STOPS = (signal.SIGINT, signal.SIGTERM)  # what a rank > 0's wrapper passes to its runner


def _prepare(plan: Plan) -> tuple[int, Plan]:
    """This task's rank, and the plan as this task runs it: its devices named by the node
    each rank runs on (``node2:cpu1``), the nodes as Slurm lists them."""
    import submitit

    env = submitit.JobEnvironment()
    rank, hosts = env.global_rank, list(env.hostnames)
    per_node = max(1, env.num_tasks // max(1, len(hosts)))
    labels = [
        f"{hosts[min(i // per_node, len(hosts) - 1)]}:{label.split(':', 1)[-1]}"
        for i, label in enumerate(plan.allocation.device_ids)
    ]
    allocation = replace(plan.allocation, device_ids=labels)
    # trn.runner's rank-0 duties (events, outcome) follow Slurm's ranks
    env_vars = {**plan.env, "RANK": str(rank)}
    return rank, replace(plan, env=env_vars, allocation=allocation, hosts=hosts)


@dataclass
class NodeJob:
    plan_json: str  # the Plan: JSON, whoever pickles this
    job_dir: str
    _sup: Any = field(default=None, repr=False)  # task 0's Supervisor, once it runs the job

    @property
    def plan(self) -> Plan:
        return Plan.from_json(self.plan_json)

    def __call__(self) -> dict[str, Any] | None:
        from trn.lifecycle.supervisor import Supervisor

        rank, plan = _prepare(self.plan)
        if rank != 0:
            _run_rank(plan, Path(self.job_dir), rank)
            return None
        self._sup = Supervisor.attach(
            plan,
            self.job_dir,
            host=socket.gethostname(),
            hosts=plan.hosts,
            devices=plan.allocation.device_ids,
        )
        result: dict[str, Any] = self._sup.run()
        return result

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        """Preempted or timed out: stop the runner with a checkpoint, requeue a resume."""
        import submitit

        if self._sup is not None:
            rc = _stop_runner(self._sup.record.runner_pid)
            self._sup.end_stopped(signal.SIGTERM, rc)  # no outcome: the supervisor says preempted
        record_id = self._sup.record.job_id if self._sup else Path(self.job_dir).name
        plan = self.plan
        return submitit.helpers.DelayedSubmission(
            ResumeJob(record_id, plan.home, plan.sweep_id, plan.allocation)
        )


@dataclass
class ResumeJob:
    """A requeued Slurm job: a new trn job continuing ``parent``'s newest checkpoint."""

    parent: str
    home: Path
    sweep_id: str | None
    allocation: Any = (
        None  # the Slurm request's view (trn.lifecycle.backends.slurm.queue.allocation)
    )
    _node: Any = field(default=None, repr=False)

    def __call__(self) -> dict[str, Any] | None:
        from trn.lifecycle.resume import plan_resume
        from trn.lifecycle.supervisor import Supervisor

        # Preempted after its last epoch's save: the resume has nothing to train and completes.
        plan = plan_resume(self.parent, home=self.home, sweep_id=self.sweep_id, allow_finished=True)
        plan = replace(plan, backend="slurm")
        if self.allocation is not None:
            plan = replace(plan, allocation=self.allocation)
        rank, plan = _prepare(plan)
        if rank != 0:  # ranks > 0 wait for task 0 to create the job
            _run_rank(plan, _wait_for_child(self.home, self.parent), rank)
            return None
        sup = Supervisor.create(plan)
        sup.update(extra={**sup.record.extra, "slurm_job_id": os.environ.get("SLURM_JOB_ID")})
        self._node = NodeJob(sup.plan.to_json(), sup.record.job_dir, sup)
        return sup.run()

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        if self._node is None:
            import submitit

            return submitit.helpers.DelayedSubmission(self)
        return self._node.checkpoint(*args, **kwargs)


def _run_rank(plan: Plan, job_dir: Path, rank: int) -> None:
    """A rank > 0: its runner, once task 0's supervisor has written the job's ``launch.json``
    (just before it starts its own runner), its output in ``runner.rankN.log``.

    A cancel (``scancel --signal=INT``) or Ctrl-C reaches this wrapper as well as the runner.
    The wrapper must not die of it: submitit would then write no result for this task, and
    the runner it started would be killed mid-step (rank 0 failing on a reset connection)
    instead of stopping at the same step as every rank. So it passes the signal on and waits
    for the runner, as task 0's supervisor does, SIGKILL after the grace period.
    """
    from trn.lifecycle.supervisor import GRACE_S

    stop: list[int] = []
    with catching(RANK_STOPS, stop.append):
        launch, deadline = JobDir(job_dir).launch, time.monotonic() + LAUNCH_WAIT_S
        while not launch.exists() and not stop and time.monotonic() < deadline:
            time.sleep(0.2)
        if stop:  # stopped before task 0 started its runner: nothing to run
            return
        env = {**os.environ, **plan.allocation.env, **plan.env, "TRN_HOME": str(plan.home)}
        log = JobDir(job_dir).rank_log(rank)
        with open(log, "ab") as out:
            out.write(f"trn: rank {rank} on {socket.gethostname()}\n".encode())
            out.flush()
            proc = subprocess.Popen(
                plan.command(job_dir),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its group: the signals and the SIGKILL reach all of it
            )
        _wait_runner(proc, stop, GRACE_S)


def _wait_runner(proc: subprocess.Popen[bytes], stop: list[int], grace_s: float) -> int:
    """Wait for a rank's runner, passing each new stop signal on; SIGKILL ``grace_s`` after
    the first. Its exit code; what is left of its group is killed."""
    from trn.proc import killpg

    forwarded, stop_at = 0, 0.0
    while True:
        if len(stop) > forwarded:
            forwarded, stop_at = len(stop), stop_at or time.monotonic()
            killpg(proc.pid, stop[-1])
        if stop_at and time.monotonic() - stop_at > grace_s:
            killpg(proc.pid, signal.SIGKILL)
        try:
            rc = proc.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            continue
        killpg(proc.pid, signal.SIGKILL)  # its data loader workers, if any outlived it
        return rc


def _wait_for_child(home: Path, parent: str, timeout: float = 300.0) -> Path:
    from trn.registry.store import Registry

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for record in Registry(home).list(limit=50):
            if record.parent_job_id == parent:
                return Path(record.job_dir)
        time.sleep(1.0)
    raise TimeoutError(f"task 0 never created the job resuming {parent}")


def _stop_runner(pid: int | None) -> int:
    """SIGTERM to the runner (it checkpoints at the next step); its exit code, SIGKILL after
    ``STOP_WAIT_S``."""
    if not pid:
        return -signal.SIGTERM
    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        return -signal.SIGTERM
    deadline = time.monotonic() + STOP_WAIT_S
    while time.monotonic() < deadline:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return -signal.SIGTERM
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.2)
    killpg(pid, signal.SIGKILL)
    return -signal.SIGKILL
