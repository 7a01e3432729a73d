"""``trn doctor``'s report as a page for people (the data comes from :mod:`trn.devices.doctor`)."""

from __future__ import annotations

from typing import Any

from trn.devices.snapshot import LINK_HELP
from trn.text import table

SHORT = {"NVLINK": "NV"}


def render(r: dict[str, Any]) -> str:
    t, nv = r["torch"], r["nvml"]
    lines = [f"trn doctor on {r['host']}", ""]
    backends = ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in t.get("backends", {}).items())
    driver = nv["driver_version"] or "-"
    if nv["cuda_driver_version"]:
        driver += f" (supports CUDA {nv['cuda_driver_version']})"
    rows = [
        ("torch", f"{t.get('version')} ({t.get('build')} build)" + _cuda(t)),
        ("backends", backends or "torch.distributed not available"),
        ("NVML", nv["state"]),
        ("driver", driver),
        (
            "CPUs",
            f"{r['cpus']['usable']} usable ({r['cpus']['detail']}; {r['cpus']['os_count']} on the host)",
        ),
        (
            "disk",
            f"{r['disk']['free_gb']} GB free of {r['disk']['total_gb']} GB under {r['disk']['path']}",
        ),
    ]
    if r["pool"]["source"]:
        rows.append(("pool", f"{r['pool']['source']} -> {len(r['pool']['uuids'] or [])} GPU(s)"))
    lines += [f"{k:<10}{v}" for k, v in rows]
    lines += _gpus(r)
    if r["warnings"]:
        lines += ["", "warnings"] + [f"  ! {w}" for w in r["warnings"]]
    req = " ".join(f"{k}={_value(v)}" for k, v in r["request"].items() if v not in (None, []))
    lines += ["", f"{'request':<10}devices: {req}", f"{'result':<10}{_result(r)}"]
    return "\n".join(lines)


def _value(v: Any) -> str:
    return str(v).lower() if isinstance(v, bool) else str(v)


def _cuda(t: dict[str, Any]) -> str:
    if t.get("build") in (None, "cpu"):
        return ""
    return f", {t.get('device_count', 0)} device(s) visible to torch"


def _gpus(r: dict[str, Any]) -> list[str]:
    if not r["gpus"]:
        return ["", "GPUs      none"]
    header = ["GPU", "NAME", "MEMORY FREE/TOTAL", "UTIL", "CC", "USED BY", "UUID"]
    rows = []
    for g in r["gpus"]:
        users = [f"pid {u['pid']} {u['name'] or ''}".rstrip() for u in g["users"]]
        used = ", ".join(([g["lease"]] if g["lease"] else []) + users) or "-"
        util = "-" if g["utilization_pct"] is None else f"{g['utilization_pct']}%"
        mem = f"{g['memory_free_mb'] / 1024:.1f}/{g['memory_total_mb'] / 1024:.1f} GiB"
        label = g["label"] + ("" if g["in_pool"] else " (outside pool)")
        rows.append([label, g["name"], mem, util, g["compute_capability"] or "-", used, g["uuid"]])
    out = ["", "GPUs", *("  " + line for line in _table(header, rows))]
    return out + _topology(r)


def _topology(r: dict[str, Any]) -> list[str]:
    whole = [g for g in r["gpus"] if not g["mig_parent"]]
    if len(whole) < 2:
        return []
    rows = []
    for a in whole:
        cells = []
        for b in whole:
            link = "-" if a is b else _link(r["topology"], a["uuid"], b["uuid"])
            cells.append(SHORT.get(link, link))
        rows.append([a["label"].split(":")[1], *cells])
    header = ["", *(g["label"].split(":")[1] for g in whole)]
    legend = "  " + ", ".join(f"{SHORT.get(k, k)}={v}" for k, v in LINK_HELP.items())
    return ["", "topology", *("  " + line for line in _table(header, rows)), legend]


def _link(links: dict[str, str], a: str, b: str) -> str:
    return links.get(f"{a}|{b}") or links.get(f"{b}|{a}") or "SYS"


def _result(r: dict[str, Any]) -> str:
    if not r["ok"]:
        return f"NOT READY: {r['reason']}"
    a = r["allocation"]
    where = ", ".join(a["labels"])
    threads = a.get("threads") or {}
    n = threads.get("count")
    per = f"; {n} thread{'s' * (n != 1)} per process: {threads['why']}" if threads else ""
    return f"ready: {where} (accelerator={a['accelerator']}, devices={a['devices']}, strategy={a['strategy']}, num_nodes={a['num_nodes']}){per}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return table(rows, header).splitlines()
