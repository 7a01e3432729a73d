"""Which NVML a snapshot of this machine is read through: ``pynvml``, or the fake machine that
``$TRN_FAKE_NVML`` describes.

The one place that chooses, so :mod:`trn.devices.nvml` reads whatever it is handed and the fake
(:mod:`trn.devices.fake`) stays a test and demo tool that nothing else imports.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from trn.devices.nvml import read_snapshot
from trn.devices.snapshot import Snapshot

FAKE_ENV = "TRN_FAKE_NVML"  # path to a JSON machine description (see docs/devices.md)


def load_nvml(env: Mapping[str, str] | None = None) -> Any:
    """``pynvml``, or the fake machine that ``$TRN_FAKE_NVML`` describes; ``None`` when
    nvidia-ml-py is not installed."""
    env = os.environ if env is None else env
    if env.get(FAKE_ENV):
        from trn.devices.fake import FakeNvml

        return FakeNvml.from_file(env[FAKE_ENV])
    try:
        import pynvml
    except ImportError:
        return None
    return pynvml


def take_snapshot(env: Mapping[str, str] | None = None) -> Snapshot:
    """This machine now, as every trn process sees it."""
    env = os.environ if env is None else env
    return read_snapshot(load_nvml(env), env)
