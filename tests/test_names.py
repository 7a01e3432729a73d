"""Each file name under $TRN_HOME and in a job dir is spelled once, in trn/jobdir.py (JobDir,
HomeDir, the sweep dir's names): a literal elsewhere in trn/ or hydra_plugins/ fails here, named."""

from __future__ import annotations

import ast
from pathlib import Path

from trn import jobdir
from trn.jobdir import HomeDir, JobDir

ROOT = Path(__file__).resolve().parents[1]
OWNER = ROOT / "trn" / "jobdir.py"
# a project's primary config has the job dir's config's name: that one cannot be told apart
SHARED = {JobDir.CONFIG}


def owned_names() -> set[str]:
    """Every file name the owner declares (its UPPER_CASE string constants)."""
    names = set()
    for space in (vars(JobDir), vars(HomeDir), vars(jobdir)):
        names |= {v for k, v in space.items() if k.isupper() and isinstance(v, str)}
    return names - SHARED


def spelled_out(source: str, names: set[str]) -> list[tuple[int, str]]:
    """``(line, literal)`` for each string constant that is one of ``names`` (or one of their
    last parts, as in ``home / "jobs" / "index.jsonl"``), and for each ``path / "runs"``-style
    join of a home's dir name."""
    files = {Path(n).name for n in names if "." in n}  # a dir's name is a word: only its joins
    dirs = {Path(n).parts[0] for n in names if "." not in Path(n).parts[0]}
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in files:
            found.append((node.lineno, node.value))
        elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            right = node.right
            if isinstance(right, ast.Constant) and right.value in dirs:
                found.append((node.lineno, str(right.value)))
    return sorted(set(found))


def test_no_job_dir_or_home_file_name_is_spelled_outside_its_owner():
    names = owned_names()
    assert {"job.json", "outcome.json", "events.jsonl", "index.db", "runs", "sweeps"} <= names
    problems = []
    for path in sorted([*(ROOT / "trn").rglob("*.py"), *(ROOT / "hydra_plugins").rglob("*.py")]):
        if path == OWNER:
            continue
        for line, literal in spelled_out(path.read_text(encoding="utf-8"), names):
            problems.append(f"{path.relative_to(ROOT)}:{line}: {literal!r}")
    assert not problems, "use JobDir / HomeDir (trn/jobdir.py) instead:\n" + "\n".join(problems)


def test_the_check_finds_a_name_spelled_out():
    names = owned_names()
    source = (
        'p = job_dir / "outcome.json"\nq = home / "sweeps"\nr = home / "jobs" / "index.jsonl"\n'
    )
    found = [(1, "outcome.json"), (2, "sweeps"), (3, "index.jsonl"), (3, "jobs")]
    assert spelled_out(source, names) == found
    assert spelled_out('"""outcome.json is the runner\'s word"""\nx = {"runs": 1}\n', names) == []
