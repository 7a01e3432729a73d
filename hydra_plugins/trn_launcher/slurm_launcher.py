"""``hydra/launcher=slurm``: each sweep job a Slurm job; the Slurm backend
(:mod:`trn.lifecycle.backends.slurm.launch`) does the work."""

from __future__ import annotations

from collections.abc import Sequence

from hydra.core.utils import JobReturn

from hydra_plugins.trn_launcher.trn_launcher import TrnLauncher


class SlurmLauncher(TrnLauncher):
    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        from trn.lifecycle.backends.slurm import launch  # lazily: submitit is an optional extra

        return launch.launch(self, job_overrides, initial_job_idx)
