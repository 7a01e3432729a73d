"""``trn diff``: what differs between two jobs, section by section (dvc exp diff's shape).

Each section is a list of ``{"key", "a", "b", "status"}`` (status: same, changed, added — only
in B —, removed — only in A); metrics also get ``change`` (B - A). Pure: records in, dicts out.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trn.provenance import jobfiles
from trn.provenance.flat import flatten, fmt
from trn.registry.record import JobRecord, JobView

CODE_KEYS = ("commit", "branch", "remote", "dirty", "patch", "patch_truncated", "untracked")
_ABSENT = object()


def entries(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Every key of ``a`` and ``b``, in ``a``'s order then ``b``'s new ones."""
    out = []
    for key in [*a, *(k for k in b if k not in a)]:
        va, vb = a.get(key, _ABSENT), b.get(key, _ABSENT)
        if va is _ABSENT:
            status = "added"
        elif vb is _ABSENT:
            status = "removed"
        else:
            status = "same" if _same(va, vb) else "changed"
        out.append(
            {
                "key": key,
                "a": None if va is _ABSENT else va,
                "b": None if vb is _ABSENT else vb,
                "status": status,
            }
        )
    return out


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b) and not (_number(a) and _number(b)):
        return False
    return bool(a == b)


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _code_view(record: JobRecord) -> dict[str, Any]:
    code = jobfiles.code_of(record)
    if code is None:
        return {}
    if code.get("error"):
        return {"error": code["error"]}
    if code.get("snapshot_sha256"):  # a project outside git: its files, compared one by one
        from trn.provenance.snapshot import manifest_of

        manifest = manifest_of(Path(record.job_dir)) or {}
        return {f"file {path}": digest for path, digest in manifest.items()}
    view = {k: code.get(k) for k in CODE_KEYS}
    view["patch"] = jobfiles.patch_sha256(record, code)  # compared by content, not by name
    return view


def _metrics(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    rows = entries(a, b)
    for row in rows:
        if row["status"] == "changed" and _number(row["a"]) and _number(row["b"]):
            change = row["b"] - row["a"]
            row["change"] = change if math.isfinite(change) else None
    return rows


def diff(a: JobView, b: JobView) -> dict[str, Any]:
    """Every section in full (each job's state as shown); :func:`only_changed` keeps what
    differs."""
    ra, rb = a.record, b.record
    ea, eb = jobfiles.environment_of(ra), jobfiles.environment_of(rb)
    return {
        "a": _who(a, ea),
        "b": _who(b, eb),
        "config": entries(flatten(jobfiles.config_of(ra)), flatten(jobfiles.config_of(rb))),
        "code": entries(_code_view(ra), _code_view(rb)),
        "packages": entries((ea or {}).get("packages") or {}, (eb or {}).get("packages") or {}),
        "metrics": _metrics(dict(ra.metrics), dict(rb.metrics)),
    }


def _who(job: JobView, env: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "job_id": job.record.job_id,
        "sweep_id": job.record.sweep_id,
        "state": job.state,
        "code_recorded": jobfiles.code_of(job.record) is not None,
        "environment_recorded": env is not None,
    }


SECTIONS = ("config", "code", "packages", "metrics")


def only_changed(result: dict[str, Any]) -> dict[str, Any]:
    return {
        **result,
        **{s: [e for e in result[s] if e["status"] != "same"] for s in SECTIONS},
    }


def render(result: dict[str, Any], show_all: bool = False) -> str:
    a, b = result["a"], result["b"]
    lines = [f"A {_label(a)}", f"B {_label(b)}"]
    for section in SECTIONS:
        rows = result[section]
        note = _missing(section, a, b)
        if not rows:
            lines.append(f"{section}: {note or ('same' if not show_all else 'none')}")
            continue
        lines.append(f"{section}:" + (f" ({note})" if note else ""))
        lines += [f"  {_row(section, row)}" for row in rows]
    return "\n".join(lines)


def _label(who: dict[str, Any]) -> str:
    sweep = f" sweep {who['sweep_id']}" if who.get("sweep_id") else ""
    return f"{who['job_id']} ({who['state']}{sweep})"


def _missing(section: str, a: dict[str, Any], b: dict[str, Any]) -> str | None:
    flag = {"code": "code_recorded", "packages": "environment_recorded"}.get(section)
    if flag is None:
        return None
    absent = [side for side, who in (("A", a), ("B", b)) if not who[flag]]
    return f"not recorded for {' and '.join(absent)}" if absent else None


def _row(section: str, row: dict[str, Any]) -> str:
    show = _SHOW.get(section, fmt)
    va = "(absent)" if row["status"] == "added" else show(row["a"])
    vb = "(absent)" if row["status"] == "removed" else show(row["b"])
    if row["status"] == "same":
        return f"{row['key']}: {va}"
    text = f"{row['key']}: {va} -> {vb}"
    if row.get("change") is not None:
        text += f"  ({row['change']:+.6g})"
    return text


def _show_code(value: Any) -> str:
    if isinstance(value, str) and len(value) in (40, 64) and value.isalnum():
        return value[:12]  # a commit or a patch digest
    return fmt(value)


def _show_metric(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else fmt(value)


_SHOW: dict[str, Callable[[Any], str]] = {
    "code": _show_code,
    "metrics": _show_metric,
    "packages": str,  # versions as pip writes them
}
