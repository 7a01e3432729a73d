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
        help="write a new project: a LightningModule, a DataModule, configs, a test",
        description=(
            "Write a small project into DIR (new or empty): pyproject.toml with [tool.trn], "
            "conf/model/NAME.yaml, conf/data/NAME.yaml, a package NAME with a LightningModule "
            "and a LightningDataModule, a README and a test. Then: cd DIR && trn run model=NAME"
        ),
    )
    p.add_argument("dir", metavar="DIR", help="the project directory (must not hold files)")
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
    directory = Path(args.dir)
    name = package_name(directory, args.name)
    written = write_project(directory, name)
    print(f"wrote {len(written)} files to {directory}:")
    for path in written:
        print(f"  {path.relative_to(directory)}")
    print(f"next: cd {directory} && trn run model={name}    (and: python -m pytest -q)")
    return 0
