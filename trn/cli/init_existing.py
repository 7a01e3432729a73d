"""``trn init --here`` (or ``trn init DIR`` on a project that exists): make it a trn project
without touching its code.

It adds ``[tool.trn]`` to the project's ``pyproject.toml`` (or writes one holding only that
table): the config dir and the project's packages as trusted ``_target_`` prefixes. A config
dir the project has (``conf/``, ``configs/``, ``config/``: lightning-hydra-template keeps
``configs/``) is used as it is; else ``conf/`` is written: an option per LightningModule
(``conf/model/NAME.yaml``) and LightningDataModule (``conf/data/NAME.yaml``) found in the
packages' source (read, not imported), each with its constructor's arguments, and a
``config.yaml`` that picks the first of each.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

from trn.errors import UsageError

CONFIG_DIRS = ("conf", "configs", "config")
SKIP_DIRS = {"tests", "test", "docs", "scripts", "build", "dist", "outputs", "logs", "data"}
KINDS = {  # group -> the Lightning class its options derive from
    "model": "lightning.pytorch.LightningModule",
    "data": "lightning.pytorch.LightningDataModule",
}
SUPPLIED = ("in_features", "num_classes")  # trn passes these from the data


def is_project(directory: Path) -> bool:
    """Whether ``directory`` holds a Python project to adopt (a pyproject or a package)."""
    return (directory / "pyproject.toml").is_file() or bool(packages(directory))


def adopt(directory: Path) -> list[str]:
    """Make ``directory`` a trn project; what was written, in words."""
    root = directory.resolve()
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and re.search(r"^\s*\[tool\.trn\]", pyproject.read_text(), re.M):
        raise UsageError(
            f"{pyproject} has [tool.trn] already; `trn config where` shows what trn finds there"
        )
    found = packages(root)
    existing = next((d for d in CONFIG_DIRS if any((root / d).glob("**/*.yaml"))), None)
    done = []
    if existing is None:
        done += write_conf(root, found)
    table = _table(existing or "conf", found)
    if pyproject.is_file():
        text = pyproject.read_text()
        pyproject.write_text(text + ("" if text.endswith("\n") else "\n") + "\n" + table)
        done.append(f"pyproject.toml: added [tool.trn] (config_dir = {existing or 'conf'!r})")
    else:
        pyproject.write_text(table)
        done.append("pyproject.toml: [tool.trn] only (your project's code was not touched)")
    return done


def packages(root: Path) -> list[str]:
    """The project's top-level packages: its directories with an ``__init__.py`` (``src``
    itself when it is one, as in lightning-hydra-template)."""
    return sorted(
        p.name
        for p in root.iterdir()
        if p.is_dir() and (p / "__init__.py").is_file() and p.name not in SKIP_DIRS
    )


def _table(config_dir: str, found: list[str]) -> str:
    trusted = ", ".join(f'"{name}."' for name in found)
    return (
        "[tool.trn]\n"
        f'config_dir = "{config_dir}"      # searched before trn\'s own configs\n'
        f"allow_targets = [{trusted}]   # trn instantiates _target_s from these packages\n"
    )


def write_conf(root: Path, found: list[str]) -> list[str]:
    """``conf/``: an option per LightningModule and LightningDataModule in the packages."""
    from trn.config import classes

    picks: dict[str, list[str]] = {group: [] for group in KINDS}
    done = []
    for module, name in _classes(root, found):
        target = f"{module}.{name}"
        for group, base in KINDS.items():
            if classes.is_subclass(target, base, root):
                option = _snake(name)
                path = root / "conf" / group / f"{option}.yaml"
                if path.exists():
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(_option(group, option, target, classes.find(target, root)))
                picks[group].append(option)
                done.append(f"conf/{group}/{option}.yaml: {target}")
    lines = [f"  - {group}: {options[0]}" for group, options in picks.items() if options]
    primary = "# trn run    (your defaults, laid over trn's own; docs/your-project.md)\n"
    primary += ("defaults:\n" + "\n".join(lines) + "\n") if lines else "{}\n"
    (root / "conf").mkdir(exist_ok=True)
    (root / "conf" / "config.yaml").write_text(primary)
    return ["conf/config.yaml", *done]


def _classes(root: Path, found: list[str]) -> list[tuple[str, str]]:
    """``(module, class name)`` of every top-level class in the packages' source."""
    out = []
    for package in found:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if any(p in SKIP_DIRS or p.startswith(".") for p in parts[:-1]):
                continue
            module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            try:
                tree = ast.parse(path.read_text(encoding="utf-8"))
            except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
                continue
            out += [(module, n.name) for n in tree.body if isinstance(n, ast.ClassDef)]
    return out


def _option(group: str, option: str, target: str, info: Any) -> str:
    lines = [f"# trn run {group}={option}", f"_target_: {target}"]
    for param in info.signature.params if info and info.signature else ():
        if group == "model" and param.name in SUPPLIED:
            continue  # from the data
        lines.append(_line(param))
    return "\n".join(lines) + "\n"


def _line(param: Any) -> str:
    """``name: default`` (a literal), ``name: ???`` (required), else the default as a comment."""
    import json

    if param.required:
        return f"{param.name}: ???   # required"
    try:
        value = ast.literal_eval(param.default)  # safe: literals only, never code
        return f"{param.name}: {json.dumps(value)}"
    except (ValueError, TypeError, SyntaxError):
        return f"# {param.name}: {ast.unparse(param.default)}   (the default; not a plain value)"


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
