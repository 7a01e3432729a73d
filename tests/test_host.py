"""``python -m trn.host VERB SPEC``, the one entry point of the processes that host a job, and
the Supervisor API they share (create, hand_off, attach, run).

Every verb reads its typed spec before anything else: a verb it does not know, or a spec that is
missing or is not one, is one line and exit status 2 with nothing written (no job, no fork)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from conftest import FAST

from trn.handoff import (
    DETACH_JOB,
    DETACH_SWEEP,
    JOB_VERBS,
    PLAN_SCHEMA,
    SWEEP_JOB,
    BadFile,
    job_command,
    schema,
)
from trn.host import VERBS
from trn.jobdir import JobDir
from trn.lifecycle.plan import Plan
from trn.lifecycle.planning import make_plan
from trn.lifecycle.supervisor import Supervisor

USAGE = "usage: python -m trn.host detach-job|detach-sweep|sweep-job SPEC"

# per verb: its spec's file name and a spec of the wrong shape, and the line that says so
FOREIGN = {
    DETACH_JOB: (
        "plan.json",
        {"config": {}, "overrides": "seed=1", "allocation": {}, "home": "/h"},
        "overrides: 'seed=1' is not of type 'array'",
    ),
    DETACH_SWEEP: (
        "request.json",
        {"sweep_id": "s", "overrides": ["seed=1,2"], "home": 3},
        "home: 3 is not of type 'string'",
    ),
    SWEEP_JOB: (
        "0.json",
        {"overrides": ["seed=1"], "result": "r"},
        "'submitted' is a required property",
    ),
}


def _host(*argv: str | Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TRN_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "trn.host", *map(str, argv)],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def _files(*roots: Path) -> list[str]:
    return sorted(str(p) for root in roots if root.exists() for p in root.rglob("*"))


def test_every_verb_a_job_process_is_started_with_is_served():
    assert set(VERBS) == set(JOB_VERBS)
    assert job_command(SWEEP_JOB, Path("/t/0.json")) == [
        sys.executable,
        "-m",
        "trn.host",
        "sweep-job",
        "/t/0.json",
    ]
    with pytest.raises(ValueError, match="no job process 'run'"):
        job_command("run", "/t/0.json")


@pytest.mark.parametrize("verb", JOB_VERBS)
def test_a_foreign_spec_is_one_line_exit_2_and_nothing_on_disk(verb, tmp_path):
    name, data, problem = FOREIGN[verb]
    spec_dir, home = tmp_path / "spec", tmp_path / "home"
    spec_dir.mkdir()
    spec = spec_dir / name
    spec.write_text(json.dumps(data))
    before = _files(tmp_path)
    proc = _host(verb, spec, home=home)
    assert (proc.returncode, proc.stdout) == (2, "")  # no pid: a detach never forked
    assert proc.stderr == f"trn: {spec}: {problem}\n"
    assert _files(tmp_path) == before and not home.exists()


@pytest.mark.parametrize("verb", JOB_VERBS)
def test_a_missing_spec_is_one_line_exit_2(verb, tmp_path):
    spec = tmp_path / "nope.json"
    proc = _host(verb, spec, home=tmp_path / "home")
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr == f"trn: {spec}: cannot read the {verb} spec (No such file or directory)\n"
    assert _files(tmp_path) == []


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        ((), "no verb"),
        (("run", "x.json"), "no such verb 'run'"),
        (("sweep-job",), "sweep-job takes one spec file"),
        (("detach-sweep", "a.json", "b.json"), "detach-sweep takes one spec file"),
    ],
)
def test_a_wrong_command_line_says_how_it_goes(argv, said, tmp_path):
    proc = _host(*argv, home=tmp_path / "home")
    assert proc.returncode == 2 and proc.stderr == f"trn: {said}; {USAGE}\n"
    assert _files(tmp_path) == []


def test_a_plan_that_is_not_a_jobs_is_refused_before_any_fork(trn_home, tmp_path):
    plan = make_plan(list(FAST), home=trn_home)
    spec = tmp_path / "plan.json"
    spec.write_text(plan.to_json())
    before = _files(tmp_path)
    proc = _host(DETACH_JOB, spec, home=trn_home)
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr == (
        f"trn: {spec}: no job beside it (job.json); detach-job takes a job's plan\n"
    )
    assert _files(tmp_path) == before


def test_a_plan_validates_against_its_schema_and_a_foreign_one_is_one_line(trn_home):
    plan = make_plan([*FAST, "seed=3"], home=trn_home)
    jsonschema.validate(json.loads(plan.to_json()), schema(PLAN_SCHEMA))
    assert Plan.from_json(plan.to_json()) == plan
    torn = {**json.loads(plan.to_json()), "allocation": {"device_ids": "cpu"}}
    with pytest.raises(BadFile, match=r"^plan.json: allocation/device_ids: 'cpu' is not of"):
        Plan.from_json(json.dumps(torn), "plan.json")


def test_a_job_handed_off_is_run_by_the_supervisor_that_attaches(trn_home):
    """What a detached supervisor and a Slurm job's task 0 do, in one process: the job's
    record then names this process, and its events go on from the creator's."""
    plan = make_plan(list(FAST), home=trn_home)
    creator = Supervisor.create(plan)
    record = creator.hand_off(pid=None, pid_start=None)
    assert json.loads(JobDir(record.job_dir).record.read_text())["pid"] is None
    final = Supervisor.attach(creator.plan, record.job_dir).run()
    assert final["state"] == "completed" and final["pid"] == os.getpid()
    events = [json.loads(x) for x in JobDir(record.job_dir).events.read_text().splitlines()]
    assert events[0]["event"] == "job_submitted" and events[-1]["event"] == "job_completed"
    assert [e["seq"] for e in events] == list(range(len(events)))


def test_a_stop_caught_before_run_ends_the_job_before_its_runner_starts(trn_home):
    plan = make_plan(list(FAST), home=trn_home)
    creator = Supervisor.create(plan)
    record = creator.hand_off()
    final = Supervisor.attach(creator.plan, record.job_dir).run(stops=[signal.SIGTERM])
    assert final["state"] == "preempted" and final["runner_pid"] is None
    assert final["error"] == "received SIGTERM before the runner started"
    assert not JobDir(record.job_dir).launch.exists()


# the modules that host a job, and what they may not do: make a Supervisor other than through
# create/attach, reach into one, or install a signal handler of their own (restoring a default
# is no handler: the detached sweep driver puts Ctrl-C's back)
ROOT = Path(__file__).resolve().parents[1]
HOSTS = [
    "trn/host.py",
    "trn/cli/cmd_run.py",
    "trn/lifecycle/detach.py",
    "trn/lifecycle/sweep_job.py",
    "trn/lifecycle/backends/slurm/launch.py",
    "trn/lifecycle/backends/slurm/node.py",
]
BREACHES = [
    re.compile(r"\bSupervisor\("),
    re.compile(r"\b_?sup\w*\._\w+"),
    re.compile(r"signal\.signal\((?![^)]*(SIG_DFL|default_int_handler))"),
]


def breaches(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if any(b.search(line) for b in BREACHES)]


def test_no_host_makes_reaches_into_a_supervisor_or_sets_its_own_handlers():
    found = {path: breaches((ROOT / path).read_text()) for path in HOSTS}
    assert {path: lines for path, lines in found.items() if lines} == {}


def test_the_check_finds_each_breach():
    text = """
    sup = Supervisor(plan)
    self._sup._finalize(1, 0.0)
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    sup = Supervisor.create(plan)
    """
    assert breaches(text) == [
        "sup = Supervisor(plan)",
        "self._sup._finalize(1, 0.0)",
        "signal.signal(signal.SIGTERM, handler)",
    ]
