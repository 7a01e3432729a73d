"""``hydra/sweeper=trn``: launch the points ``trn run -m`` planned, in one batch.

A basic sweep's points are known before anything starts (:mod:`trn.lifecycle.expand` checked
each one); a resumed sweep's are what is left of it. Either way they are the task's
:attr:`~trn.launcher.task.TrnTask.points`, numbered from its ``first_num`` on, so a resume never
reuses a job number. Hydra's ``multirun.yaml`` goes in ``hydra.sweep.dir`` (a resume's own
attempt dir), and a failed job's result is never re-raised here: the sweep's summary shows it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def sweep(sweeper: Any, arguments: list[str]) -> Any:
    from omegaconf import OmegaConf

    task = sweeper.task
    sweep_dir = Path(str(sweeper.config.hydra.sweep.dir))
    sweep_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(sweeper.config, sweep_dir / "multirun.yaml")
    batch = [list(p.overrides) for p in task.points]
    if not batch:
        return []
    return [sweeper.launcher.launch(batch, initial_job_idx=task.first_num)]
