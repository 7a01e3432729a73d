"""One trn job of a sweep: plan it like ``trn run`` would, then supervise it.

``python -m trn.host sweep-job SPEC.json`` (:func:`run_spec`) is the fresh process the local
launcher starts per job, with the job's devices already in its environment; :class:`SweepTask`
calls :func:`run_trn_job` in-process under other launchers. The result file gets the final record.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from trn import fsutil
from trn.handoff import SWEEP_JOB, SweepJobSpec
from trn.launcher.task import TrnTask, detached_hydra, objective_of
from trn.lifecycle.plan import Plan
from trn.registry.record import JobRecord

SHOWN = {  # what a sweep prints per job (all events still go to the job's files)
    "job_submitted",
    "devices_waiting",
    "job_completed",
    "job_failed",
    "job_cancelled",
    "job_preempted",
    "job_pruned",
    "warning",
}


class SweepTask(TrnTask):
    """The task function ``trn run -m`` gives Hydra: one trn job per sweep point."""

    job_verb = SWEEP_JOB

    def __call__(self, cfg: Any) -> Any:
        from hydra.core.hydra_config import HydraConfig

        hc = HydraConfig.get()
        overrides = list(hc.overrides.task)
        point = self.point(overrides)
        with detached_hydra():  # make_plan composes with Hydra's compose API
            record = run_trn_job(
                overrides,
                sweep_id=self.sweep_id,
                home=self.home,
                config_dir=self.config_dir,
                echo=make_echo(sys.stderr if self.to_stderr else sys.stdout, hc.job.num),
                plan=point.plan,
                place=(hc.job.num, point.index),
            )
        return objective_of(JobRecord.from_dict(record))

    def reap(self, submitted: Path, rc: int | None, cancelled: bool) -> None:
        from trn.devices.leases import LeaseStore
        from trn.lifecycle.end import reap

        reap(submitted, rc, cancelled)
        LeaseStore(self.home).reclaim()  # what a job process killed outright still held


def make_echo(stream: IO[str], num: int | None) -> Callable[[dict[str, Any]], None]:
    from trn import text as output

    prefix = "" if num is None else f"[{num}] "

    def echo(event: dict[str, Any]) -> None:
        if event.get("event") in SHOWN:
            stream.write(prefix + output.event_line(event) + "\n")
            stream.flush()

    return echo


def run_trn_job(
    overrides: list[str],
    *,
    sweep_id: str | None,
    home: Path | None,
    config_dir: Path | None = None,
    echo: Callable[[dict[str, Any]], None] | None = None,
    on_submit: Callable[[dict[str, Any]], None] | None = None,
    plan: Plan | None = None,
    place: tuple[int | None, int | None] = (None, None),
) -> dict[str, Any]:
    """Plan (or take the plan ``trn run -m`` made while checking the sweep), submit and run
    one job; its final record. ``place``: the job's number in the sweep and the point it
    runs. Ctrl-C before the runner starts still ends the job ``cancelled`` (never a record
    left ``submitted``: :meth:`Supervisor.run`)."""
    from trn.lifecycle.supervisor import Supervisor

    if plan is None:
        from trn.lifecycle.planning import make_plan

        plan = make_plan(list(overrides), home=home, config_dir=config_dir, sweep_id=sweep_id)
    else:
        plan = replan(plan, sweep_id)
    plan = replace(plan, sweep_num=place[0], sweep_point=place[1])
    sup = Supervisor.create(plan, echo=echo)
    if on_submit:
        on_submit(sup.record.to_dict())
    return sup.run()


def replan(plan: Plan, sweep_id: str | None) -> Plan:
    """A plan made elsewhere, with its devices previewed again here (inside this job's slot)."""
    from trn.devices.manager import plan_allocation

    allocation = plan_allocation(plan.config["devices"], plan.home)
    return replace(plan, sweep_id=sweep_id, allocation=allocation)


def _load_plan(spec: SweepJobSpec) -> Plan | None:
    """The plan ``trn run -m`` checked for this job, as the launcher wrote it (JSON)."""
    return Plan.from_json(Path(spec.plan).read_text()) if spec.plan else None


def run_spec(spec: SweepJobSpec) -> int:
    """``python -m trn.host sweep-job SPEC.json``: the job, its result in ``spec.result``."""
    result, submitted = Path(spec.result), Path(spec.submitted)
    stream = sys.stderr if spec.stderr else sys.stdout
    try:
        record = run_trn_job(
            spec.overrides,
            sweep_id=spec.sweep_id,
            home=Path(spec.home) if spec.home else None,
            config_dir=Path(spec.config_dir) if spec.config_dir else None,
            echo=make_echo(stream, spec.num),
            on_submit=lambda rec: fsutil.atomic_write_json(submitted, rec),
            plan=_load_plan(spec),
            place=(spec.num, spec.point),
        )
    except KeyboardInterrupt:  # before any record existed
        fsutil.atomic_write_json(result, {"error": "cancelled before the job was created"})
        return 130
    except Exception as err:  # noqa: BLE001 - one line for the sweep summary, then the trace
        fsutil.atomic_write_json(result, {"error": f"{type(err).__name__}: {err}"})
        raise
    fsutil.atomic_write_json(result, {"record": record})
    return 0 if record["state"] == "completed" else 1
