"""``trn init DIR``: write a small project that ``trn run model=NAME`` trains at once.

The files come from ``init_template/`` beside this module: ``__pkg__`` in a path or in a file's
text becomes the package name, and a ``.tmpl`` suffix is dropped (it keeps the template's Python
out of trn's own linting, typing and test collection).
"""

from __future__ import annotations

import argparse
import keyword
import re
from pathlib import Path
from typing import Any

from trn.errors import UsageError

TEMPLATE = Path(__file__).with_name("init_template")
TOKEN = "__pkg__"


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "init",
        help="write a new project, or make an existing one a trn project (--here)",
        description=(
            "Write a small project into DIR (new or empty): pyproject.toml with [tool.trn], "
            "conf/model/NAME.yaml, conf/data/NAME.yaml, a package NAME with a LightningModule "
            "and a LightningDataModule, a README and a test. Then: cd DIR && trn run model=NAME. "
            "On a project that exists (DIR, or --here for the working directory): add [tool.trn] "
            "to its pyproject.toml and, unless it has a config dir, a conf/ with an option per "
            "LightningModule and LightningDataModule in its code; its code is not touched."
        ),
    )
    p.add_argument(
        "dir", metavar="DIR", nargs="?", help="the project directory (new, empty, or a project)"
    )
    p.add_argument("--here", action="store_true", help="the working directory's project")
    p.add_argument(
        "--name", help="the package, model and data name (default: DIR's name, as an identifier)"
    )
    p.set_defaults(func=run)


def package_name(directory: Path, name: str | None) -> str:
    if name is None:
        name = re.sub(r"[^0-9a-zA-Z_]", "_", directory.resolve().name).lower()
    if (
        not name.isidentifier()
        or keyword.iskeyword(name)
        or not re.fullmatch(r"[a-z_][a-z0-9_]*", name)
    ):
        raise UsageError(
            f"--name {name}: not a package name; use lower-case letters, digits and _ "
            "(not first a digit), e.g. --name myproj"
        )
    return name


def write_project(directory: Path, name: str) -> list[Path]:
    """The template's files under ``directory`` with ``name`` filled in; the paths written."""
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        what = "is not a directory" if not directory.is_dir() else "is not empty"
        raise UsageError(f"{directory} {what}; give a new or empty directory")
    files = sorted(p for p in TEMPLATE.rglob("*.tmpl") if p.is_file())
    rendered = [
        (directory / str(p.relative_to(TEMPLATE)).replace(TOKEN, name).removesuffix(".tmpl"),
         p.read_text().replace(TOKEN, name))
        for p in files
    ]  # fmt: skip
    for path, text in rendered:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return [path for path, _ in rendered]


def run(args: argparse.Namespace) -> int:
    from trn.cli import init_existing

    if (args.dir is None) == (not args.here):
        raise UsageError("give the project's DIR or --here (the working directory), not both")
    directory = Path(args.dir or ".")
    if directory.is_dir() and any(directory.iterdir()):
        if not init_existing.is_project(directory):
            raise UsageError(
                f"{directory} is not empty and holds no Python project (no pyproject.toml, no "
                "package); give a new or empty directory, or your project's root"
            )
        for line in init_existing.adopt(directory):
            print(f"  {line}")
        go = "" if directory.resolve() == Path.cwd().resolve() else f"cd {directory} && "
        print(f"next: {go}trn config where    (then: trn run model=NAME)")
        return 0
    name = package_name(directory, args.name)
    written = write_project(directory, name)
    print(f"wrote {len(written)} files to {directory}:")
    for path in written:
        print(f"  {path.relative_to(directory)}")
    print(f"next: cd {directory} && trn run model={name}    (and: python -m pytest -q)")
    return 0
