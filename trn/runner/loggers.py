"""The ``logger`` config group: real Lightning loggers beside trn's own events.

``logger=csv`` writes ``<job_dir>/metrics.csv``, ``logger=tensorboard`` ``<job_dir>/tensorboard/``,
``logger=[csv,tensorboard]`` both; ``logger=none`` (the default) none. Each is fed exactly the
metrics trn emits as ``metrics`` events, at the same steps (:class:`Tee` wraps the job's event
writer), not Lightning's own logging, whose steps differ at an epoch's end; the Trainer still
owns each logger's life (hyperparameters, save, finalize) through :class:`Fed`. The resolved
config goes in flattened as hyperparameters, with the job id, sweep id and attempt as tags. A
logger that fails is reported once; training goes on.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from trn.errors import UsageError


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists and None as text (what loggers can show)."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value if isinstance(value, (int, float, str, bool)) else str(value)
    return out


def build(
    config: dict[str, Any], job_dir: Path, record: dict[str, Any], events: Any
) -> tuple[Any, list[Any]]:
    """``(the event writer to emit metrics through, the loggers for the Trainer)``."""
    chosen = set(config.get("logger") or {}) - {"none"}
    if not chosen:
        return events, []
    from lightning.pytorch import loggers

    made: list[Any] = []
    if "csv" in chosen:
        made.append(loggers.CSVLogger(save_dir=str(job_dir), name="", version=""))
    if "tensorboard" in chosen:
        if not any(importlib.util.find_spec(m) for m in ("tensorboard", "tensorboardX")):
            raise UsageError("logger=tensorboard needs TensorBoard: pip install 'trn[tensorboard]'")
        made.append(
            loggers.TensorBoardLogger(save_dir=str(job_dir), name="tensorboard", version="")
        )
    tags = {
        "trn.job_id": record.get("job_id"),
        "trn.sweep_id": record.get("sweep_id") or "",
        "trn.attempt": record.get("attempt", 1),
    }
    params = {**flatten({k: v for k, v in config.items() if k != "logger"}), **tags}
    for logger in made:
        logger.log_hyperparams(params)
    fed = [_fed(logger) for logger in made]
    return Tee(events, fed), fed


def _fed(inner: Any) -> Any:
    from lightning.pytorch.loggers.logger import Logger

    class Fed(Logger):
        """``inner`` for the Trainer, deaf to Lightning's own metric calls: :class:`Tee` feeds it."""

        def __init__(self) -> None:
            super().__init__()
            self.inner = inner

        @property
        def name(self) -> str:
            return str(inner.name)

        @property
        def version(self) -> str | int:
            return inner.version  # type: ignore[no-any-return]

        @property
        def save_dir(self) -> str | None:
            return inner.save_dir  # type: ignore[no-any-return]

        @property
        def log_dir(self) -> str | None:
            return inner.log_dir  # type: ignore[no-any-return]

        def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
            pass

        def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
            pass  # the module's: trn logged the resolved config already

        def feed(self, metrics: dict[str, float], step: int) -> None:
            inner.log_metrics(metrics, step)

        def save(self) -> None:
            inner.save()

        def finalize(self, status: str) -> None:
            inner.finalize(status)

    return Fed()


class Tee:
    """The job's event writer, also handing each ``metrics`` event's values to the loggers."""

    def __init__(self, events: Any, fed: list[Any]):
        self.events, self.fed, self.failed = events, fed, False

    def emit(self, name: str, **fields: Any) -> Any:
        line = self.events.emit(name, **fields)
        self._feed(name, fields)
        return line

    def emit_later(self, name: str, **fields: Any) -> Any:
        line = self.events.emit_later(name, **fields)
        self._feed(name, fields)
        return line

    def _feed(self, name: str, fields: dict[str, Any]) -> None:
        if name != "metrics":
            return
        values = {k: v for k, v in fields["metrics"].items() if isinstance(v, (int, float))}
        for logger in self.fed:
            try:
                logger.feed(values, int(fields["step"]))
            except Exception as err:  # noqa: BLE001 - a tracker never stops training
                if not self.failed:
                    self.failed = True
                    self.events.emit("warning", message=f"logger {logger.name} failed: {err}")

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.events, attr)
