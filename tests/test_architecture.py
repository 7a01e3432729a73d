"""The layering of docs/architecture.md holds in the code: ``lint-imports`` checks the contracts
in pyproject.toml (nothing imports upward, no circles between siblings), and a back-edge or a
circle added to a copy of the tree breaks them, naming the import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip(
    "importlinter", reason="import-linter is in the dev extra: pip install -e .[dev]"
)

ROOT = Path(__file__).resolve().parents[1]


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` on the tree at ``root`` (its ``trn`` package, its pyproject.toml)."""
    script = Path(sys.executable).with_name("lint-imports")
    exe = str(script) if script.exists() else shutil.which("lint-imports")
    assert exe, "lint-imports is not on PATH (pip install -e .[dev])"
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [exe, "--no-cache", "--config", str(root / "pyproject.toml")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def copy_tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    shutil.copytree(ROOT / "trn", root / "trn", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


def add_import(module: Path, statement: str) -> None:
    module.write_text(module.read_text(encoding="utf-8") + f"\n{statement}\n", encoding="utf-8")


def test_the_tree_keeps_its_layers():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_an_upward_import_breaks_the_layers_and_is_named(tmp_path):
    root = copy_tree(tmp_path)
    assert lint_imports(root).returncode == 0  # the copy is analysed, and is clean
    add_import(root / "trn" / "fsutil.py", "import trn.cli.main  # a back-edge")
    result = lint_imports(root)
    assert result.returncode != 0
    assert "nothing imports upward BROKEN" in result.stdout
    assert "trn.fsutil is not allowed to import trn.cli" in result.stdout
    assert "trn.fsutil -> trn.cli.main" in result.stdout


def test_a_circle_between_siblings_breaks_the_contract(tmp_path):
    """registry and events share a layer, so only the circle contract sees this one."""
    root = copy_tree(tmp_path)
    add_import(root / "trn" / "events" / "envelope.py", "import trn.registry.store  # a circle")
    result = lint_imports(root)
    assert result.returncode != 0
    assert "nothing imports upward KEPT" in result.stdout
    assert "no import circles between sibling modules BROKEN" in result.stdout
    assert ".events -> .registry" in result.stdout or ".registry -> .events" in result.stdout


def test_the_serve_layer_has_its_place_before_it_exists(tmp_path):
    """trn/serve is an optional layer beside the API: the contract holds with it and without,
    and the job lifecycle below it may not import it."""
    root = copy_tree(tmp_path)
    if not (root / "trn" / "serve").exists():
        (root / "trn" / "serve").mkdir()
        (root / "trn" / "serve" / "__init__.py").write_text("import trn.api\n", encoding="utf-8")
    assert lint_imports(root).returncode == 0
    add_import(
        root / "trn" / "lifecycle" / "end.py", "import trn.serve  # lifecycle sits below serve"
    )
    result = lint_imports(root)
    assert result.returncode != 0
    assert "trn.lifecycle.end -> trn.serve" in result.stdout


def test_a_new_top_level_module_must_be_given_a_layer(tmp_path):
    root = copy_tree(tmp_path)
    (root / "trn" / "scratch.py").write_text("COMMIT = None\n", encoding="utf-8")
    result = lint_imports(root)
    assert result.returncode != 0
    assert "not listed as layers" in result.stdout and "trn.scratch" in result.stdout
