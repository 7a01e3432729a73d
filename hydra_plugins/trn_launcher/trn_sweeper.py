"""trn's sweepers, which ``trn run -m`` picks (never named by hand): ``hydra/sweeper=trn``, the
points it planned (a basic sweep, or what a resume left; :mod:`trn.launcher.points`), and
``hydra/sweeper=trn_optuna`` for ``hydra/sweeper=optuna`` (:mod:`trn.launcher.optuna`)."""

from __future__ import annotations

from typing import Any

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class TrnSweeper(Sweeper):
    def __init__(self, **params: Any) -> None:
        self.params = params
        self.config: DictConfig | None = None
        self.launcher: Any = None
        self.task: Any = None

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        from hydra.core.plugins import Plugins

        self.config, self.task = config, task_function
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> Any:
        from trn.launcher import points  # lazily: plugin discovery must stay fast

        return points.sweep(self, arguments)


class TrnOptunaSweeper(TrnSweeper):
    def sweep(self, arguments: list[str]) -> Any:
        from trn.launcher import optuna  # lazily: optuna is an optional extra

        return optuna.sweep(self, arguments)
