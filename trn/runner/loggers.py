"""The ``logger`` config group: real Lightning loggers beside trn's own events.

``logger=csv`` writes ``<job_dir>/metrics.csv``, ``logger=tensorboard`` ``<job_dir>/tensorboard/``,
``logger=mlflow`` an MLflow run (:mod:`trn.runner.tracking`), a list (``logger=[csv,mlflow]``)
each; ``logger=none`` (the default) none. Each is fed exactly the metrics trn emits as
``metrics`` events, at the same steps (:class:`Tee` wraps the job's event writer), not
Lightning's own logging, whose steps differ at an epoch's end; the Trainer still owns each
logger's life (save, finalize) through :class:`Fed`, except an MLflow run's end, which says how
the job ended (:meth:`Tee.end`). The resolved config goes in flattened as hyperparameters (MLflow:
params), with the job id, sweep id, attempt and code commit (MLflow: tags). A logger that fails
is reported once, as a ``warning`` event (which the supervisor copies into the record's
warnings), and is not called again; training goes on.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from trn.config.loggers import chosen as chosen_loggers
from trn.text import error_line


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


def tags_of(record: dict[str, Any]) -> dict[str, Any]:
    """What ties a logger's run to trn: the job, its sweep and attempt, and the code it ran."""
    tags: dict[str, Any] = {
        "trn.job_id": record.get("job_id"),
        "trn.sweep_id": record.get("sweep_id") or "",
        "trn.attempt": record.get("attempt", 1),
    }
    code = record.get("code") or {}
    if code.get("commit"):  # none: not a git work tree, or git did not answer
        tags["trn.code.commit"], tags["trn.code.dirty"] = code["commit"], bool(code.get("dirty"))
    return tags


def build(
    config: dict[str, Any], job_dir: Path, record: dict[str, Any], events: Any
) -> tuple[Any, list[Any]]:
    """``(the event writer to emit metrics through, the loggers for the Trainer)``.

    Only rank 0 (the one with ``events``) has loggers: the other ranks emit no metrics."""
    chosen = chosen_loggers(config)
    if not chosen or events is None:
        return events, []
    tee = Tee(events, [])
    tags = tags_of(record)
    params = flatten({k: v for k, v in config.items() if k != "logger"})
    for name in ("csv", "tensorboard", "mlflow"):
        if name not in chosen:
            continue
        try:
            inner, notes = _start(name, config, job_dir, record, tags, params)
        except Exception as err:  # noqa: BLE001 - a tracker never stops training
            tee.warn(f"logger {name} failed: {error_line(err)}; training goes on without it")
            continue
        for note in notes:
            tee.warn(note)
        tee.fed.append(_fed(name, inner, tee))
    return tee, tee.fed


def _start(
    name: str,
    config: dict[str, Any],
    job_dir: Path,
    record: dict[str, Any],
    tags: dict[str, Any],
    params: dict[str, Any],
) -> tuple[Any, list[str]]:
    """A logger that has its hyperparameters, and notes for the job's warnings."""
    from lightning.pytorch import loggers

    if name == "mlflow":
        from trn.runner import tracking

        logger, notes = tracking.start(config["logger"]["mlflow"], config, record, tags)
        logger.log_hyperparams(tracking.new_params(logger, params))
        return logger, notes
    if name == "csv":
        logger = loggers.CSVLogger(save_dir=str(job_dir), name="", version="")
    else:
        logger = loggers.TensorBoardLogger(save_dir=str(job_dir), name="tensorboard", version="")
    logger.log_hyperparams({**params, **tags})
    return logger, []


def _fed(name: str, inner: Any, tee: Tee) -> Any:
    from lightning.pytorch.loggers.logger import Logger

    class Fed(Logger):
        """``inner`` for the Trainer, deaf to Lightning's own metric calls (:class:`Tee` feeds
        it); every call guarded: the first failure is reported, and the logger goes quiet."""

        def __init__(self) -> None:
            super().__init__()
            self.inner, self.failed = inner, False
            self.run_id: str | None = getattr(inner, "run_id", None) if name == "mlflow" else None

        @property
        def name(self) -> str:
            return name

        @property
        def version(self) -> str | int:
            return inner.version  # type: ignore[no-any-return]

        @property
        def save_dir(self) -> str | None:
            return inner.save_dir  # type: ignore[no-any-return]

        @property
        def log_dir(self) -> str | None:
            return getattr(inner, "log_dir", None)

        def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
            pass

        def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
            pass  # the module's: trn logged the resolved config already

        def feed(self, metrics: dict[str, float], step: int) -> None:
            self._call(inner.log_metrics, metrics, step)

        def save(self) -> None:
            tee.drain()
            self._call(inner.save)

        def finalize(self, status: str) -> None:
            tee.drain()
            if name != "mlflow":  # MLflow's run ends as the job ends: Tee.end
                self._call(inner.finalize, status)

        def end(self, state: str) -> str | None:
            """End the MLflow run as ``state``; its MLflow status, or None if not ended."""
            from trn.runner.tracking import STATUS

            status = STATUS.get(state, "FAILED")
            if name == "mlflow" and self._call(inner.finalize, status):
                return status
            return None

        def _call(self, fn: Any, *args: Any) -> bool:
            if self.failed:
                return False
            try:
                fn(*args)
                return True
            except Exception as err:  # noqa: BLE001 - a tracker never stops training
                self.failed = True
                tee.warn(f"logger {name} failed: {error_line(err)}; training goes on without it")
                return False

    return Fed()


class Tee:
    """The job's event writer, also handing each ``metrics`` event's values to the loggers.

    Step metrics reach the loggers in batches, as the writer writes its queued events (within
    ``flush_s``): a TensorBoard write wakes its writer thread, and one wake-up per step event
    cost a few percent of a small model's step. An epoch's metrics, a save and the end drain the
    batch at once."""

    def __init__(self, events: Any, fed: list[Any]):
        self.events, self.fed = events, fed
        self.flush_s = float(getattr(events, "flush_s", 0) or 0)
        self._pending: list[tuple[dict[str, float], int]] = []
        self._oldest = 0.0

    def emit(self, name: str, **fields: Any) -> Any:
        line = self.events.emit(name, **fields)
        self._queue(name, fields)
        self.drain()
        return line

    def emit_later(self, name: str, **fields: Any) -> Any:
        line = self.events.emit_later(name, **fields)
        self._queue(name, fields)
        if self._pending and time.monotonic() - self._oldest >= self.flush_s:
            self.drain()
        return line

    def drain(self) -> None:
        """Hand the loggers every metric queued for them."""
        pending, self._pending = self._pending, []
        for values, step in pending:
            for logger in self.fed:
                logger.feed(values, step)

    def warn(self, message: str) -> None:
        """One ``warning`` event: the supervisor copies it into the record's warnings."""
        self.events.emit("warning", message=message)

    def end(self, state: str) -> dict[str, Any]:
        """End the loggers' runs as the job ended (``state``); the fields for ``outcome.json``:
        which MLflow run, and the status the runner gave it (the job's end finishes the rest)."""
        self.drain()
        out: dict[str, Any] = {}
        for logger in self.fed:
            if logger.run_id:
                out["mlflow_run_id"] = logger.run_id
                status = logger.end(state)
                if status:
                    out["mlflow_status"] = status
        return out

    def close(self) -> None:
        self.drain()
        self.events.close()

    def _queue(self, name: str, fields: dict[str, Any]) -> None:
        if name != "metrics" or not self.fed:
            return
        values = {k: v for k, v in fields["metrics"].items() if isinstance(v, (int, float))}
        if not self._pending:
            self._oldest = time.monotonic()
        self._pending.append((values, int(fields["step"])))

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.events, attr)
