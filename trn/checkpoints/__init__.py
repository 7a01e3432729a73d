"""Reading, verifying and safely loading trn checkpoints (``.ckpt`` + ``.meta.json``).

:mod:`trn.checkpoints.meta` imports neither torch nor lightning (``trn resume --dry-run`` and
``trn status`` stay fast); :mod:`trn.checkpoints.load` is the only place a ``.ckpt`` is
unpickled, always with ``weights_only=True`` and only after its size and sha256 match the meta.
:mod:`trn.checkpoints.scan` judges a ``weights=`` file at plan time from its pickle's opcodes,
by the rules in :mod:`trn.checkpoints.torch_rules`, without torch and without unpickling it.
"""

from trn.checkpoints.meta import (
    META_SCHEMA,
    CheckpointError,
    find_latest,
    read_meta,
    verify,
)

__all__ = ["META_SCHEMA", "CheckpointError", "find_latest", "read_meta", "verify"]
