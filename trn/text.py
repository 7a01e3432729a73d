"""Plain-text output for people: tables and one-line event summaries (no third-party deps)."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterable
from typing import Any

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def plain(text: str) -> str:
    """No control characters in logs: newlines, tabs, escapes become spaces."""
    return _CONTROL.sub(" ", text)


_USERINFO = re.compile(r"(?<=//)[^/\s@]+@")


def error_line(err: BaseException, limit: int = 300) -> str:
    """An exception as one short line (some libraries' messages run to many), without the
    ``user:password@`` of any URL in it (such a line goes into a job's record)."""
    lines = _USERINFO.sub("", str(err)).strip().splitlines()
    return f"{type(err).__name__}: {lines[0][:limit]}" if lines else type(err).__name__


def did_you_mean(word: str, choices: Iterable[str], prefix: str = "") -> str:
    """`` (did you mean PREFIX+NEAREST?)`` for the known choice nearest ``word``; "" if none is
    near enough to be a typo of it."""
    import difflib

    close = difflib.get_close_matches(word, [c for c in choices if c != word], n=1, cutoff=0.6)
    return f" (did you mean {prefix}{close[0]}?)" if close else ""


# lines of an error text that name no cause: Hydra's wrappers and hints, a traceback's frames
_NOISE = re.compile(
    r"^(Error executing job with overrides:|Set the environment variable HYDRA_FULL_ERROR"
    r"|full_key:|Traceback \(most recent call last\):|File \"|\^+$)"
)
_REPR = re.compile(r"^([A-Za-z_][\w.]*)\((['\"])(.*)\2,?\)$", re.S)


def cause(error: str | None) -> str:
    """The innermost reason an error text gives, as one line: ``InstantiationException: Error
    in call to target 'm.Net':`` followed by ``ValueError('embed_dim must be ...')`` (how
    Hydra's instantiate wraps a cause) gives ``ValueError: embed_dim must be ...``; Hydra's
    hints and a traceback's frames are dropped."""
    text = error or ""
    for _ in range(10):  # a cause wrapped in a wrapper's repr: unwrap it once more
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        lines = [ln for ln in lines if not _NOISE.match(ln)] or lines
        if not lines:
            return ""
        i = 0
        while i + 1 < len(lines) and lines[i].endswith(":"):  # "...:" says the cause follows
            i += 1
        line = lines[i] if i or len(lines) == 1 or ":" in lines[0] else lines[-1]
        found = _REPR.match(line)
        if not found:
            return line
        text = f"{found.group(1)}: {found.group(3)}".replace("\\n", "\n").replace("\\'", "'")
    return text.splitlines()[0]


def fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, an ellipsis marking the cut."""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def terminal_width(stream: Any = None) -> int:
    """Columns of the terminal (``$COLUMNS`` first); 100 when there is none."""
    import shutil

    return shutil.get_terminal_size((100, 24)).columns


def public_url(url: str) -> str:
    """The URL without what may hold a secret (userinfo, query, fragment), for a warning."""
    import urllib.parse

    try:
        parts = urllib.parse.urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(unparsable URL)"
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


def fmt_duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def short_path(path: str, base: str | None = None) -> str:
    """``path`` relative to ``base`` (default: the working dir) when that is shorter."""
    try:
        rel = os.path.relpath(path, base or os.getcwd())
    except ValueError:  # another drive
        return path
    if base and rel.startswith(".."):
        return path
    return rel if len(rel) < len(path) else path


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows]
    ]
    return "\n".join(lines)


def fmt_metrics(metrics: dict[str, Any], limit: int = 4) -> str:
    """``k=v`` pairs, the test stage's first (a tested job's result), then validation's."""
    preferred = ["test/acc", "test/loss", "val/acc", "val/loss", "train/loss"]
    rest = sorted((not k.startswith("test/"), k) for k in metrics if k not in preferred)
    keys = [k for k in preferred if k in metrics] + [k for _, k in rest]
    return " ".join(f"{k}={_num(metrics[k])}" for k in keys[:limit] if metrics[k] is not None)


def _num(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _at_step(event: dict[str, Any]) -> str:
    step = event.get("resumed_from_step")
    return "" if step is None else f" at step {step}"


def event_line(event: dict[str, Any], job_dir: str | None = None) -> str:
    """One readable line for an event, e.g. ``15:20:48 metrics  epoch 3 step 92 val/acc=0.96``;
    given the ``job_dir`` (named once, by ``job_submitted``) paths in it are shown relative."""
    ts = event.get("ts", "")[11:19]
    name = event.get("event", "?")
    if name == "metrics":
        body = f"epoch {event['epoch']} step {event['step']} {fmt_metrics(event['metrics'])}"
    elif name == "job_submitted":
        body = f"{event['job_id']} devices={','.join(event.get('devices', []))} dir={event.get('job_dir')}"
        if event.get("parent_job_id"):
            body += f" resumed from {event['parent_job_id']}{_at_step(event)}"
    elif name == "job_started":
        body = f"pid {event.get('runner_pid')} world_size={event.get('world_size')}"
    elif name == "checkpoint_saved":
        path = short_path(event["meta_path"], job_dir) if job_dir else event["meta_path"]
        body = f"step {event['step']} {path}"
    elif name == "job_completed":
        body = f"in {event.get('duration_s', 0):.1f}s {fmt_metrics(event.get('metrics', {}))}"
    elif name == "job_failed":
        body = f"{event.get('error')}"
    elif name in ("job_cancelled", "job_preempted", "job_pruned"):
        body = f"{event.get('reason')}"
    elif name == "warning":
        body = event.get("message", "")
    else:
        skip = {
            "schema",
            "event",
            "id",
            "ts",
            "job_id",
            "sweep_id",
            "seq",
            "attempt",
            "source",
            "host",
            "pid",
            "rank",
        }
        body = json.dumps({k: v for k, v in event.items() if k not in skip}, default=str)
    return f"{ts} {name:<16} {body}"


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=None, default=str) + "\n")


def fmt_bytes(n: int) -> str:
    """``1536`` -> ``1.5K``; powers of 1024, as ``du -h``."""
    size = float(n)
    for unit in ("B", "K", "M", "G", "T"):
        if size < 1024 or unit == "T":
            return f"{size:.0f}{unit}" if unit == "B" else f"{size:.1f}{unit}"
        size /= 1024
    return f"{n}B"


def isatty(stream: Any) -> bool:
    """Whether ``stream`` is a terminal (a closed or fake stream is not)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
