"""nox -s tests | lint | typecheck  (CPU torch pinned by constraints-cpu.txt)."""

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
INSTALL = ["-c", "constraints-cpu.txt", "-e", ".[dev]"]


@nox.session
def tests(session: nox.Session) -> None:
    session.install(*INSTALL)
    session.run("pytest", "-q", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff", "import-linter>=2.17")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("lint-imports")  # the layers of docs/architecture.md ([tool.importlinter])


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install(*INSTALL)
    session.run("mypy", "trn")
