"""The commands README.md and docs/cli.md show work as written.

Every ``trn ...`` line of their ``bash`` blocks runs here against a home that holds what the
docs assume: two finished jobs and a finished sweep (the ids in the docs, ``261128-1529`` and
friends, ``$JOB`` and ``$SWEEP``, stand for them). A ``trn run`` that would train for minutes
runs with ``--dry-run``: planning it checks every override, group and flag it names. What cannot
run here is listed in :data:`NOT_HERE` with the reason; a line the test does not recognise fails,
so a new doc line is either runnable or listed.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from pathlib import Path

import pytest
from conftest import FAST, ROOT, run_trn

pytestmark = pytest.mark.slow

DOCS = ("README.md", "docs/cli.md")

# What a line needs that this machine or a test cannot give, by a word in the line.
NOT_HERE = {
    "...": "an elided argument (the doc shows the shape, not a command)",
    "cd ": "a project of the reader's own",
    "experiment=": "a project's experiment group (tests/test_project_open.py has one)",
    "trn serve": "a server that runs until stopped (tests/test_serve*.py start it)",
    "logs -f": "follows until interrupted (tests/test_logs.py)",
    "events -f": "follows until interrupted (tests/test_logs.py)",
    ">> ~/": "writes the reader's shell startup file",
    "cuda:": "needs GPUs",
    "my.yaml": "a config file of the reader's own",
    "warm start": "leaves a warm parent running (tests/test_warm_parents.py)",
    "warm stop": "ends warm parents other tests use (tests/test_warm_parents.py)",
    "hydra/launcher=slurm": "needs Slurm (tests/test_slurm*.py)",
    "--rank 1": "a multi-node Slurm job's rank log (tests/test_multinode.py)",
}

# A line whose command is right to end non-zero here, and the code it ends with.
EXPECTED_CODE = {
    "trn cancel ": 1,  # the job the docs name has ended: "already ended", nothing to stop
    "trn doctor devices=gpu": 1,  # no GPU on this machine: doctor says so
    "trn resume 261128-1700": 1,  # the sweep has finished: "nothing left to do"
    "trn resume $SWEEP": 1,
}


def doc_lines() -> list[tuple[str, str]]:
    """(doc, command) for each ``trn`` line of each ``bash`` block, comments dropped and
    continuation lines joined."""
    out = []
    for doc in DOCS:
        text = (ROOT / doc).read_text(encoding="utf-8")
        for block in re.findall(r"```bash\n(.*?)```", text, re.S):
            for line in block.replace("\\\n", " ").splitlines():
                command = re.split(r"\s{2,}#|\s#\s", line)[0].strip()
                if re.match(r"^(\w+=\S+ )*trn ", command) or command.startswith("cd "):
                    out.append((doc, command))
    return list(dict.fromkeys(out))


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> dict[str, str]:
    """A home with what the docs' examples refer to: two jobs and a sweep, finished."""
    import numpy as np

    root = tmp_path_factory.mktemp("docs")
    env = {"TRN_HOME": str(root / "home")}
    # the reader's own dataset (datasets/mine in the docs), with the test split `trn eval` needs
    rng = np.random.default_rng(0)
    x = rng.normal(size=(240, 8)).astype("float32")
    np.savez(root / "mine.npz", x=x, y=(x[:, 0] > 0).astype("int64"))
    built = run_trn("data", "build", str(root / "mine"), "--from", str(root / "mine.npz"),
                    "--split", "train=0.7,val=0.15,test=0.15")  # fmt: skip
    assert built.returncode == 0, built.stderr
    ids = []
    for lr in ("0.003", "0.01"):
        proc = run_trn("run", "--json", *FAST, f"data.path={root / 'mine'}", f"optimizer.lr={lr}",
                       env=env)  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
        ids.append(json.loads(proc.stdout)["job_id"])
    proc = run_trn("run", "-m", "--json", *FAST, "optimizer.lr=0.001,0.1", env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    sweep = json.loads(proc.stdout)["sweep_id"]
    return {**env, "JOB": ids[0], "OTHER": ids[1], "SWEEP": sweep, "ROOT": str(root)}


def concrete(command: str, home: dict[str, str], tmp: Path) -> list[str]:
    """The line's argv, its example ids replaced by the home's and files written to ``tmp``."""
    for example in ("261128-1529", "261128-1520", "$JOB"):
        command = command.replace(example, home["JOB"])
    command = command.replace("261128-1601", home["OTHER"])
    for example in ("261128-1700", "$SWEEP"):
        command = command.replace(example, home["SWEEP"])
    command = command.replace("curves.png", str(tmp / "curves.png"))
    command = command.replace("datasets/mine", str(Path(home["ROOT"]) / "mine"))
    command = command.split(" | ")[0]  # `| jq .state`: the JSON itself is checked instead
    argv = shlex.split(command)
    env = [a for a in argv[: argv.index("trn")]]
    return env + argv[argv.index("trn") + 1 :]


def planned(argv: list[str], sweep: str) -> list[str]:
    """A ``trn run`` (or resume, rerun) that would train: its plan instead (every override and
    flag still checked). A sweep line runs for real, with the short training of FAST; resuming
    the finished sweep has nothing to run."""
    verb = argv[0]
    if verb == "run" and ("-m" in argv or "--multirun" in argv):
        return [*argv, *FAST]
    if argv[:2] == ["resume", sweep]:
        return argv
    if verb in ("run", "resume", "rerun", "eval") and not {"--cfg", "--info", "--dry-run"} & set(
        argv
    ):
        return [*argv, "--dry-run"]
    return argv


CASES = doc_lines()


@pytest.mark.parametrize("doc, command", CASES, ids=[f"{d}: {c}" for d, c in CASES])
def test_a_documented_command_works_as_written(doc, command, home, tmp_path, monkeypatch):
    skip = next((why for word, why in NOT_HERE.items() if word in command), None)
    if skip:
        pytest.skip(f"not run here: {skip}")
    argv = concrete(command, home, tmp_path)
    assigns = {}
    while argv and "=" in argv[0] and not argv[0].startswith("-") and argv[0][0].isupper():
        key, _, value = argv.pop(0).partition("=")
        assigns[key] = value
    argv = planned(argv, home["SWEEP"])
    cwd = ROOT
    if argv[0] == "init":  # into a place of its own: a new dir, or an existing project
        cwd = tmp_path
        if "--here" in argv:
            (tmp_path / "pyproject.toml").write_text('[project]\nname = "mine"\n')
    env = {"TRN_HOME": home["TRN_HOME"], "SLACK_HOOK": "http://127.0.0.1:9/hook", **assigns}
    proc = run_trn(*argv, env=env, cwd=cwd)
    want = next((code for prefix, code in EXPECTED_CODE.items() if command.startswith(prefix)), 0)
    assert proc.returncode == want, f"{doc}: `{command}` ran as {argv}:\n{proc.stderr[-1500:]}"
    assert "Traceback" not in proc.stderr, proc.stderr[-1500:]
    if "--json" in argv and proc.stdout.strip():  # what a program reading it gets: one
        try:  # document, or one per line
            json.loads(proc.stdout)
        except ValueError:
            for line in proc.stdout.strip().splitlines():
                json.loads(line)
    if os.environ.get("TRN_DOCS_SHOW"):
        print(command, "->", argv, proc.returncode)
