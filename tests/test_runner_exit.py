"""The runner leaves without Python's module teardown, yet ends the user's program as a normal
exit would: their non-daemon threads finish, their ``atexit`` handlers run and what they wrote
to a file they never closed is on disk. Warm (forked) and cold runners alike."""

from __future__ import annotations

import json

import pytest
from conftest import FAST, run_trn
from project_files import PACKAGE, make_project

from trn.config.project import ENV

# The project's model module, as careless code leaves things at exit.
ENDINGS = """
import atexit, os, threading, time

OUT = os.environ["PROJNET_OUT"]
UNCLOSED = open(os.path.join(OUT, "unclosed.txt"), "w")  # buffered, never flushed or closed


def _late():
    time.sleep(0.5)
    with open(os.path.join(OUT, "thread.txt"), "w") as f:
        f.write("the thread finished")


atexit.register(lambda: open(os.path.join(OUT, "atexit.txt"), "w").write("atexit ran"))
"""

BUILD = """
        UNCLOSED.write(f"built in {os.getpid()}\\n")
        threading.Thread(target=_late).start()  # not a daemon: exit waits for it
"""


@pytest.mark.parametrize("warm", ["1", "0"])
def test_a_job_ends_its_users_threads_atexit_and_unclosed_files(
    warm, trn_home, tmp_path, monkeypatch
):
    monkeypatch.delenv(ENV, raising=False)
    project = make_project(tmp_path / "proj")
    models = project / PACKAGE / "models.py"
    source = models.read_text().replace(
        "from torch import nn\n", "from torch import nn\n" + ENDINGS
    )
    source = source.replace(
        "        self.net = nn.Sequential(", BUILD + "        self.net = nn.Sequential("
    )
    models.write_text(source)
    out = tmp_path / "out"
    out.mkdir()

    proc = run_trn(
        "run", "--json", "model=wide", *FAST, cwd=project,
        env={"PROJNET_OUT": str(out), "TRN_WARM": warm},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads(proc.stdout)
    assert record["state"] == "completed" and record["start"] == ("warm" if warm == "1" else "cold")
    assert (out / "unclosed.txt").read_text() == f"built in {record['runner_pid']}\n"
    assert (out / "thread.txt").read_text() == "the thread finished"
    assert (out / "atexit.txt").read_text() == "atexit ran"
