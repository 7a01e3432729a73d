"""AMD GPUs through ``amdsmi`` (ROCm), best effort: any failure means "no AMD GPUs".

Only consulted when the installed torch is a ROCm build (``torch.version.hip``). Leases and the
allocator treat these GPUs like NVIDIA ones; the runner gets ``HIP_VISIBLE_DEVICES``.
"""

from __future__ import annotations

from typing import Any

from trn.devices.snapshot import GpuInfo

MB = 1024 * 1024


def read_gpus(smi: Any = None) -> list[GpuInfo]:
    try:
        if smi is None:
            import amdsmi as smi  # type: ignore[no-redef]
        smi.amdsmi_init()
    except Exception:
        return []
    try:
        return [_gpu(smi, i, h) for i, h in enumerate(smi.amdsmi_get_processor_handles())]
    except Exception:
        return []
    finally:
        try:
            smi.amdsmi_shut_down()
        except Exception:
            pass


def _gpu(smi: Any, index: int, handle: Any) -> GpuInfo:
    asic = _try(smi.amdsmi_get_gpu_asic_info, handle) or {}
    total = _try(smi.amdsmi_get_gpu_memory_total, handle, smi.AmdSmiMemoryType.VRAM) or 0
    used = _try(smi.amdsmi_get_gpu_memory_usage, handle, smi.AmdSmiMemoryType.VRAM) or 0
    return GpuInfo(
        index=index,
        uuid=str(_try(smi.amdsmi_get_gpu_device_uuid, handle) or f"amd-{index}"),
        name=str(asic.get("market_name") or "AMD GPU"),
        pci_bus_id=str(_try(smi.amdsmi_get_gpu_device_bdf, handle) or ""),
        memory_total_mb=int(total // MB),
        memory_free_mb=int((total - used) // MB),
        vendor="amd",
    )


def _try(fn: Any, *args: Any) -> Any:
    try:
        return fn(*args)
    except Exception:
        return None
