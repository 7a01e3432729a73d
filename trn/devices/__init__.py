"""Devices for a job: snapshot the machine, allocate, lease (see ``docs/devices.md``).

- :mod:`trn.devices.snapshot`  what the machine has (dataclasses)
- :mod:`trn.devices.nvml`      reads NVML into a snapshot (the only module touching ``pynvml``)
- :mod:`trn.devices.probe`     this machine's snapshot: real NVML, or ``$TRN_FAKE_NVML``'s fake
- :mod:`trn.devices.fake`      a fake NVML machine described in JSON, for tests and demos
- :mod:`trn.devices.allocate`  the pure allocator: (request, snapshot, leases) -> Allocation
- :mod:`trn.devices.leases`    file leases under ``$TRN_HOME/leases`` between trn processes
- :mod:`trn.devices.manager`   plan-time preview and the supervisor's lease (waits if needed)
- :mod:`trn.devices.doctor`    ``trn doctor``: is this machine ready for this request?

Nothing here imports torch.
"""

from __future__ import annotations

from trn.devices.allocate import Allocation, Unavailable, allocate
from trn.devices.host import usable_cpus
from trn.devices.request import DeviceRequest, parse_devices_flag
from trn.devices.snapshot import GpuInfo, GpuProcess, Snapshot

__all__ = [
    "Allocation",
    "DeviceRequest",
    "GpuInfo",
    "GpuProcess",
    "Snapshot",
    "Unavailable",
    "allocate",
    "parse_devices_flag",
    "usable_cpus",
]
