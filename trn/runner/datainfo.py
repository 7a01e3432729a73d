"""What the data says of itself before the Trainer has run any of its hooks."""

from __future__ import annotations

from typing import Any


def known(datamodule: Any, name: str) -> Any:
    """What the data says of itself before the Trainer has run any of its hooks: a trn dataset
    answers from its index (checked when the job was planned); any other data module only
    through a plain attribute set on it or its class. A property or method is never called, so
    nothing of the module's code runs before Lightning's ``prepare_data`` and ``setup``."""
    if datamodule is None:
        return None
    from trn.data.datamodule import ShardDataModule

    if isinstance(datamodule, ShardDataModule):
        return getattr(datamodule, name)  # read from index.json; no shard is opened
    own = getattr(datamodule, "__dict__", {})
    if name in own:
        return own[name]
    for klass in type(datamodule).__mro__:
        if name in vars(klass):
            value = vars(klass)[name]
            return None if hasattr(value, "__get__") else value  # a property, a method
    return None
