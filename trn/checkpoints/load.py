"""The only place trn unpickles a checkpoint: ``torch.load(weights_only=True)``, after verify.

``weights_only=True`` lets torch rebuild tensors and plain containers only, plus the classes
:mod:`trn.checkpoints.trust` lets by for the job's trusted prefixes (torch's safe globals); a
pickle that asks for anything else (``os.system``, an untrusted class...) is refused before any
of it runs.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from trn.checkpoints import trust
from trn.checkpoints.meta import META_SUFFIX, CheckpointError, judge, verify
from trn.errors import NotFound


def torch_load(path: Path, trusted: Sequence[str] = ()) -> Any:
    """``torch.load(path, weights_only=True)`` on CPU, after :func:`~trn.checkpoints.meta.judge`
    (the same scan planning ran), with the classes it let by as torch's safe globals; a refused
    or broken file names itself, with torch's own reason when torch refuses it."""
    import torch

    if not Path(path).is_file():
        raise NotFound(f"{path}: no such file")
    extra = trust.objects(judge(Path(path), str(path), trusted))
    try:
        with torch.serialization.safe_globals(extra):
            return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise NotFound(f"{path}: no such file") from None
    except Exception as err:  # noqa: BLE001  torch's unpickler on a foreign file raises anything
        reason = torch_reason(err)
        if not isinstance(err, (pickle.UnpicklingError, RuntimeError, OSError)):
            reason = f"{type(err).__name__}: {reason}"
        raise CheckpointError(
            f"{path}: refused, not loadable with weights_only=True ({reason[:300]})"
        ) from None


_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def torch_reason(err: BaseException) -> str:
    """torch's message in one line: its ``Unsupported global`` line when it has one (the line
    that says what to trust), without the terminal escape codes torch puts around its advice."""
    text = _ESCAPE.sub("", str(err)).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    useful = [ln for ln in lines if "Unsupported global" in ln or "WeightsUnpickler error" in ln]
    line = (useful or lines or [type(err).__name__])[0]
    return line.split("WeightsUnpickler error: ", 1)[-1]


def load_checkpoint(
    meta_path: Path | str, trusted: Sequence[str] = ()
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(meta, checkpoint dict)`` of a committed checkpoint, verified, then safely loaded
    (``trusted``: the job's ``allow_targets``, see :mod:`trn.checkpoints.trust`)."""
    meta, ckpt = verify(meta_path)
    checkpoint = torch_load(ckpt, trusted)
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f"{ckpt}: not a checkpoint (a {type(checkpoint).__name__})")
    return meta, checkpoint


def load_weights(path: Path | str, trusted: Sequence[str] = ()) -> dict[str, Any]:
    """A model state_dict from a trn meta, a Lightning ``.ckpt`` or a plain state_dict file.

    A trn meta verifies its ``.ckpt`` first; other files have no checksum to check, but are still
    judged and loaded with ``weights_only=True``. Keys of a Lightning module (``model.``) are
    unprefixed.
    """
    path = Path(path)
    if path.name.endswith(META_SUFFIX):
        state: Any = load_checkpoint(path, trusted)[1]
    else:
        state = torch_load(path, trusted)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not state:
        raise CheckpointError(f"{path}: holds no state_dict (a mapping of parameter names)")
    prefix = "model."
    if all(isinstance(k, str) and k.startswith(prefix) for k in state):
        state = {k[len(prefix) :]: v for k, v in state.items()}
    return state


def apply_weights(model: Any, state: dict[str, Any], source: Path | str) -> None:
    """``model.load_state_dict(state, strict=True)`` with a one-line error listing the keys."""
    missing = sorted(set(model.state_dict()) - set(state))
    unexpected = sorted(set(state) - set(model.state_dict()))
    if missing or unexpected:
        raise CheckpointError(
            f"weights={source} does not fit the model: missing keys {_few(missing)}, "
            f"unexpected keys {_few(unexpected)}; check model.* matches the checkpoint's model"
        )
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:  # same keys, other shapes
        detail = " ".join(str(err).split())[:300]
        raise CheckpointError(f"weights={source} does not fit the model: {detail}") from None


def _few(keys: list[str], n: int = 5) -> str:
    if not keys:
        return "none"
    more = f" and {len(keys) - n} more" if len(keys) > n else ""
    return "[" + ", ".join(keys[:n]) + "]" + more
