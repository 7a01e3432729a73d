"""``hydra/launcher=trn`` and ``hydra/launcher=slurm``: their options, registered once.

No ``from __future__ import annotations`` here: Hydra's plugin scan executes this module
before it is in ``sys.modules``, and dataclasses then cannot resolve string annotations.
"""

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore


@dataclass
class TrnLauncherConf:
    """Run each sweep job as a fresh process on its own devices (docs/sweeps.md)."""

    _target_: str = "hydra_plugins.trn_launcher.trn_launcher.TrnLauncher"
    devices: str = "auto"  # auto: GPU slots if the pool has GPUs, else CPU slots; cpu; gpu
    cpu_slots: int | None = None  # CPU jobs at once (null: the usable CPUs, at most 8)
    gpus_per_job: int = 1  # for jobs whose config has no devices.count
    max_parallel: int | None = None  # a cap on jobs at once (null: as many as fit)
    stagger_s: float = 0.0  # at least this long between two job starts
    grace_s: float = 60.0  # after Ctrl-C: how long jobs may take to stop before SIGKILL


@dataclass
class SlurmLauncherConf:
    """Each sweep job becomes a Slurm job through submitit (docs/sweeps.md#slurm)."""

    _target_: str = "hydra_plugins.trn_launcher.slurm_launcher.SlurmLauncher"
    submitit_folder: str = "${hydra.sweep.dir}/.submitit/%j"
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    timeout_min: int = 60
    cpus_per_task: int | None = None  # null: the CPU share of each task on a node
    mem_gb: float | None = None
    gres: str | None = None  # null: gpu:<devices.count> for GPU jobs
    constraint: str | None = None
    max_num_timeout: int = 3  # requeues after preemption/timeout (each resumes from a checkpoint)
    signal_delay_s: int = 90  # SIGUSR2 this long before the time limit: save, then requeue
    poll_s: float = 2.0  # how often the launcher looks at its Slurm jobs
    additional_parameters: dict[str, Any] = field(default_factory=dict)
    setup: list[str] = field(default_factory=list)  # shell lines run before each job


@dataclass
class TrnSweeperConf:
    """The points `trn run -m` planned, all in one batch (a basic sweep, or a resume's rest)."""

    _target_: str = "hydra_plugins.trn_launcher.trn_sweeper.TrnSweeper"


@dataclass
class TrnOptunaSweeperConf:
    """`hydra/sweeper=optuna` under `trn run -m`: a study kept in the sweep dir, resumable."""

    _target_: str = "hydra_plugins.trn_launcher.trn_sweeper.TrnOptunaSweeper"
    sampler: dict[str, Any] = field(
        default_factory=lambda: {"_target_": "optuna.samplers.TPESampler", "seed": None}
    )
    direction: str = "minimize"  # trn run -m sets it from objective.mode
    n_trials: int = 20  # the study's total; a resume goes on toward it, never past it
    n_jobs: int = 2  # trials asked for at once (the launcher packs them onto free slots)
    params: dict[str, str] | None = None  # more of the search space, as overrides
    storage: str | None = None  # unused: the study lives in the sweep dir (optuna.journal)
    study_name: str | None = None  # unused: the study is named after the sweep


cs = ConfigStore.instance()
cs.store(group="hydra/sweeper", name="trn", node=TrnSweeperConf, provider="trn")
cs.store(group="hydra/sweeper", name="trn_optuna", node=TrnOptunaSweeperConf, provider="trn")
cs.store(group="hydra/launcher", name="trn", node=TrnLauncherConf, provider="trn")
cs.store(group="hydra/launcher", name="slurm", node=SlurmLauncherConf, provider="trn")
