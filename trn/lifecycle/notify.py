"""Word of a job's (or a sweep's) end: POST its terminal event to a webhook, and/or run a command
with the event as JSON on stdin.

Sent after the record is final, within ``notify.timeout_s`` all tries together, so a webhook
that hangs or fails delays the end by at most that and never changes how the job ended: a
failure comes back as one line for the record's warnings. The URL may be named by an env var
(``notify.webhook_env``) so a token in it never lands in config.yaml; the command is split with
:func:`shlex.split` and run without a shell.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
import urllib.error
import urllib.request
from typing import Any

from trn.text import public_url

DEFAULT_ON = ("completed", "failed", "cancelled", "preempted")


def state_of(event: dict[str, Any]) -> str:
    """``job_failed`` -> ``failed``; a sweep's end says its state in the event."""
    name = str(event.get("event", ""))
    return str(event.get("state") or "") if name.startswith("sweep_") else name[len("job_") :]


def send(notify: dict[str, Any] | None, event: dict[str, Any]) -> str | None:
    """Deliver ``event`` as ``notify`` (config.yaml's ``notify`` section) says; ``None`` when
    delivered or not wanted, else why not, in one line."""
    notify = notify or {}
    url = notify.get("webhook")
    if notify.get("webhook_env"):
        url = os.environ.get(str(notify["webhook_env"])) or url
    command = notify.get("command")
    if not (url or command) or state_of(event) not in (notify.get("on") or DEFAULT_ON):
        return None
    deadline = time.monotonic() + float(notify.get("timeout_s") or 5)
    body = json.dumps(event, sort_keys=True).encode()
    problems = []
    if url:
        problems.append(_post(str(url), body, deadline, int(notify.get("retries") or 0)))
    if command:
        problems.append(_run(str(command), body, deadline))
    found = [p for p in problems if p]
    return "; ".join(found) or None


def _post(url: str, body: bytes, deadline: float, retries: int) -> str | None:
    where = public_url(url)
    problem = None
    for attempt in range(retries + 1):
        left = deadline - time.monotonic()
        if left <= 0.05:
            break
        request = urllib.request.Request(
            url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=left) as response:
                response.read(1024)
            return None
        except urllib.error.HTTPError as err:
            problem = f"HTTP {err.code}"
            if err.code < 500:
                break  # the server refuses this request; sending it again will not help
        except (OSError, ValueError) as err:  # refused, timed out, bad URL
            problem = str(getattr(err, "reason", None) or err) or type(err).__name__
        time.sleep(max(0.0, min(0.2 * 2**attempt, deadline - time.monotonic())))
    return f"notify webhook {where} failed ({problem or 'out of time'})"


def _run(command: str, body: bytes, deadline: float) -> str | None:
    try:
        argv = shlex.split(command)
        proc = subprocess.run(
            argv,
            input=body,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=max(0.1, deadline - time.monotonic()),
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"notify command {command!r} ran past notify.timeout_s and was killed"
    except (OSError, ValueError) as err:
        return f"notify command {command!r} could not run ({err})"
    if proc.returncode:
        last = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
        return f"notify command {command!r} exited {proc.returncode} {last[0]}".rstrip()
    return None
