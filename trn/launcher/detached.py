"""``trn run -m --detach``: check the sweep, make its dir, run it in a process of its own.

The parent checks every job (bad input: exit 2, nothing on disk), creates the sweep dir with
``request.json``, starts ``python -m trn.launcher.detached SWEEP_DIR`` in a new session and
returns the sweep id. The detached process runs the sweep exactly as the foreground one does;
its output goes to ``sweep.log`` and its summary to ``summary.json`` in the sweep dir, and its
pid to ``sweep.json`` (``trn cancel SWEEP`` signals it, like Ctrl-C).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from trn import fsutil

REQUEST, SUMMARY, LOG = "request.json", "summary.json", "sweep.log"


def submit(overrides: list[str], home: Path) -> dict[str, Any]:
    """Check, record and start the sweep; return ``{sweep_id, sweep_dir, jobs, pid}``."""
    from trn.launcher import expand
    from trn.launcher.sweep import new_sweep_dir, record_process

    checked = expand.check(overrides, home, None)  # UsageError: nothing has started
    sweep_id, sweep_dir = new_sweep_dir(home)
    fsutil.atomic_write_json(
        sweep_dir / REQUEST, {"sweep_id": sweep_id, "overrides": overrides, "home": str(home)}
    )
    with open(sweep_dir / LOG, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "trn.launcher.detached", str(sweep_dir)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # survives the terminal; Ctrl-C there does not reach it
            env={**os.environ, "TRN_HOME": str(home)},
        )
    jobs = len(checked.jobs) if checked.jobs is not None else None
    return record_process(sweep_dir, sweep_id, jobs, proc.pid)  # the child writes it too


def main(argv: list[str]) -> int:
    from trn.launcher.sweep import print_summary, run_sweep

    sweep_dir = Path(argv[0])
    request = json.loads((sweep_dir / REQUEST).read_text())
    result = run_sweep(
        request["overrides"], Path(request["home"]), sweep=(request["sweep_id"], sweep_dir)
    )
    fsutil.atomic_write_json(sweep_dir / SUMMARY, result.summary)
    print_summary(result.summary, as_json=False)
    return result.exit_code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
