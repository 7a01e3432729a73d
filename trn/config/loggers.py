"""The ``logger`` group, checked when a job is planned: each chosen logger's package is there
(looked up, never imported: planning stays quick), and MLflow's tracking URI is decided.

The URI goes into the resolved config, so the job's end, a resume and a rerun all find the same
MLflow store as the runner did, whatever their own environment says.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from trn.errors import UsageError

# logger -> (modules any one of which it needs, the extra that installs it)
NEEDS = {
    "tensorboard": (("tensorboard", "tensorboardX"), "tensorboard"),
    "mlflow": (("mlflow",), "mlflow"),
}


def chosen(config: dict[str, Any]) -> set[str]:
    """The loggers a config asks for (``logger=none`` is none)."""
    return set(config.get("logger") or {}) - {"none"}


def prepare_loggers(config: dict[str, Any], home: Path) -> None:
    """Refuse a logger whose package is missing; fill in MLflow's default tracking URI."""
    for name in sorted(chosen(config)):
        modules, extra = NEEDS.get(name, ((), ""))
        if modules and not any(_installed(m) for m in modules):
            raise UsageError(
                f"logger={name} needs the {modules[0]} package, which is not installed here: "
                f"pip install 'trn[{extra}]'"
            )
    mlflow = (config.get("logger") or {}).get("mlflow")
    if isinstance(mlflow, dict) and not mlflow.get("tracking_uri"):
        mlflow["tracking_uri"] = os.environ.get("MLFLOW_TRACKING_URI") or default_tracking_uri(home)


def default_tracking_uri(home: Path) -> str:
    return f"sqlite:///{Path(home).resolve() / 'mlflow.db'}"


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken parent package, or a module without a spec
        return False
