"""nox -s lint typecheck tests (from the lock) | lock (refresh it) | upgrade (newest versions).

constraints-cpu.txt is the lock: every package CI and the README's first command install, at the
version the suite last passed with, and the CPU build of torch. `nox -s upgrade` tries the newest
releases that pyproject's ranges admit; `nox -s lock` writes them into the lock once they pass.
"""

from pathlib import Path

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
LOCK = "constraints-cpu.txt"
INSTALL = ["-c", LOCK, "-e", ".[dev]"]
# An unpinned torch resolves to a multi-GB CUDA build; 2.13.0 is the CPU build these machines have.
TORCH_CPU = "torch==2.13.0"


@nox.session
def tests(session: nox.Session) -> None:
    session.install(*INSTALL)
    session.run("pytest", "-q", "-n", "2", "-m", "not slurm", *session.posargs)
    session.run("pytest", "-q", "-m", "slurm", *session.posargs)  # one at a time: README


@nox.session
def lint(session: nox.Session) -> None:
    session.install(*INSTALL)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("lint-imports")  # the layers of docs/architecture.md ([tool.importlinter])


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install(*INSTALL)
    session.run("mypy", "trn")


@nox.session
def upgrade(session: nox.Session) -> None:
    """The newest releases pyproject admits, then the suite: breakage found by us, not users."""
    session.install("--upgrade", TORCH_CPU, "-e", ".[dev]")
    session.run("pip", "list", "--outdated")
    session.run("pytest", "-q", "-n", "2", "-m", "not slurm", *session.posargs)
    session.run("pytest", "-q", "-m", "slurm", *session.posargs)  # one at a time: README


@nox.session
def lock(session: nox.Session) -> None:
    """Resolve from scratch (no old lock) and write every installed version into the lock."""
    session.install(TORCH_CPU, "-e", ".[dev]")
    frozen = session.run("pip", "freeze", "--exclude-editable", silent=True)
    pins = sorted(
        (line.split("+")[0] for line in str(frozen).splitlines() if "==" in line),
        key=str.lower,
    )
    header = Path(LOCK).read_text().split("\n\n", 1)[0]  # the comment that says what this is
    Path(LOCK).write_text(header + "\n\n" + "\n".join(pins) + "\n")
    session.log(f"{LOCK}: {len(pins)} pins; run `nox -s tests` with it before committing")
