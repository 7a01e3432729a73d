"""Lightning ``CheckpointIO`` for trn: write in place with fsync; load only verified checkpoints.

Lightning's own ``_atomic_save`` stages the file in ``$TMPDIR`` and moves it without fsync.
trn's writer (:class:`trn.runner.checkpoint.AtomicCheckpoint`) already hands this a ``.tmp-``
path in the destination directory and renames it after: here the bytes only need to be durable.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from lightning.fabric.plugins.io.checkpoint_io import CheckpointIO

from trn.checkpoints.load import load_checkpoint
from trn.checkpoints.meta import META_SUFFIX, CheckpointError


class TrnCheckpointIO(CheckpointIO):
    """``trusted``: the job's ``allow_targets``, whose classes a checkpoint it loads may name
    (:mod:`trn.checkpoints.trust`)."""

    def __init__(self, trusted: Sequence[str] = ()):
        self.trusted = tuple(trusted)

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None
    ) -> None:
        path = Path(path)
        try:
            with open(path, "wb") as f:
                out = _Writer(f)
                try:
                    torch.save(checkpoint, out)  # type: ignore[arg-type]  # a file-like
                except RuntimeError:
                    if out.error:  # torch's writer hides the errno of a failed write (ENOSPC...)
                        raise out.error from None
                    raise
                f.flush()
                os.fsync(f.fileno())
        except BaseException:
            path.unlink(missing_ok=True)  # never leave a partial file behind
            raise

    def load_checkpoint(self, path: Any, map_location: Any = None, weights_only: Any = None) -> Any:
        """Only a committed checkpoint: ``NAME.ckpt`` with a ``NAME.meta.json`` that verifies."""
        path = Path(path)
        if not path.name.endswith(".ckpt"):
            raise CheckpointError(f"{path}: resume from a trn checkpoint (NAME{META_SUFFIX})")
        meta = path.with_name(path.name[: -len(".ckpt")] + META_SUFFIX)
        return load_checkpoint(meta, self.trusted)[1]

    def remove_checkpoint(self, path: Any) -> None:
        Path(path).unlink(missing_ok=True)


class _Writer:
    """The file as torch.save sees it, keeping the ``OSError`` of a failed write."""

    def __init__(self, f: Any):
        self.f = f
        self.error: OSError | None = None

    def write(self, data: Any) -> int:
        try:
            return self.f.write(data)
        except OSError as err:
            self.error = err
            raise

    def flush(self) -> None:
        self.f.flush()
