"""The Hydra task function of ``trn run -m``: one trn job per sweep point.

Under ``hydra/launcher=trn`` the launcher recognises it and starts :mod:`trn.launcher.job` per
job; under any other launcher (basic, joblib, submitit) it runs the job where it is called.
Either way the job is planned by :func:`trn.plan.make_plan` and run by the supervisor, so its
record, events and checkpoints are those of a single ``trn run``.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trn.errors import JobFailed


@dataclass
class SweepTask:
    sweep_id: str
    home: Path
    config_dir: Path | None = None
    to_stderr: bool = False  # `trn run -m --json`: stdout carries the summary only
    plans: dict[tuple[str, ...], Any] = field(default_factory=dict)  # checked jobs' plans

    def __call__(self, cfg: Any) -> Any:
        from hydra.core.hydra_config import HydraConfig

        from trn.launcher.job import make_echo, run_trn_job

        hc = HydraConfig.get()
        overrides = list(hc.overrides.task)
        with detached_hydra():  # make_plan composes with Hydra's compose API
            record = run_trn_job(
                overrides,
                sweep_id=self.sweep_id,
                home=self.home,
                config_dir=self.config_dir,
                echo=make_echo(sys.stderr if self.to_stderr else sys.stdout, hc.job.num),
                plan=copy.deepcopy(self.plans.get(tuple(overrides))),
            )
        return objective_of(record)


def objective_of(record: dict[str, Any]) -> Any:
    """What a sweeper optimises: the job's ``objective.metric``; raises if the job failed."""
    if record["state"] != "completed":
        raise JobFailed(f"job {record['job_id']} {record['state']}: {record.get('error')}")
    metric = (record.get("objective") or {}).get("metric")
    if metric is None:
        metric = _objective_metric(record)
    return record.get("metrics", {}).get(metric)


def _objective_metric(record: dict[str, Any]) -> str | None:
    import yaml

    try:
        with open(record["config_path"], encoding="utf-8") as f:
            return (yaml.safe_load(f).get("objective") or {}).get("metric")
    except (OSError, KeyError, AttributeError):
        return None


@contextmanager
def detached_hydra() -> Iterator[None]:
    """Set the running Hydra aside while trn composes a job's config, then put it back."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.singleton import Singleton

    saved = Singleton._instances.pop(GlobalHydra, None)
    try:
        yield
    finally:
        Singleton._instances.pop(GlobalHydra, None)
        if saved is not None:
            Singleton._instances[GlobalHydra] = saved
