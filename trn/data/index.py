"""Load and validate a dataset's ``index.json``; find a dataset by name or path."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trn import paths
from trn.data.errors import DatasetError, Problem
from trn.errors import NotFound, UsageError

INDEX = "index.json"
FORMAT = "trn.dataset/1"
SCHEMA = "dataset-index.schema.json"


@dataclass(frozen=True)
class Feature:
    name: str
    dtype: str
    shape: tuple[int, ...]
    num_classes: int | None = None
    class_names: tuple[str, ...] | None = None  # of classes 0..num_classes-1 (text labels)


@dataclass(frozen=True)
class FileRef:
    path: str
    bytes: int
    sha256: str


@dataclass(frozen=True)
class Shard:
    split: str
    number: int
    num_samples: int
    files: dict[str, FileRef]

    @property
    def label(self) -> str:
        return f"{self.split}/{self.number:05d}"


@dataclass(frozen=True)
class Index:
    root: Path
    name: str
    version: str
    description: str
    license: str
    features: tuple[Feature, ...]
    splits: dict[str, tuple[Shard, ...]]
    raw: dict[str, Any]

    def feature(self, name: str) -> Feature:
        for f in self.features:
            if f.name == name:
                return f
        have = ", ".join(f.name for f in self.features)
        raise DatasetError(
            self.name, self.root, [_p(INDEX, f"no feature '{name}'", f"have: {have}")]
        )

    def shards(self, split: str) -> tuple[Shard, ...]:
        if split not in self.splits:
            have = ", ".join(self.splits)
            raise DatasetError(
                self.name, self.root, [_p(INDEX, f"no split '{split}'", f"have: {have}")]
            )
        return self.splits[split]

    def num_samples(self, split: str) -> int:
        return sum(s.num_samples for s in self.shards(split))

    def file_path(self, ref: FileRef) -> Path:
        return self.root / ref.path


def _p(where: str, what: str, fix: str) -> Problem:
    return Problem(where, what, fix)


def fingerprint(path: Path | str) -> str:
    """sha256 (hex) of the bytes of ``index.json``; ``path`` is the dataset dir or the file."""
    path = Path(path)
    return hashlib.sha256((path / INDEX if path.is_dir() else path).read_bytes()).hexdigest()


def resolve_dataset(name_or_path: str, base: Path | str | None = None) -> Path:
    """An existing directory wins; else ``./datasets/<name>``; else the bundled datasets. An
    absolute path is only ever that path; a relative one is from ``base`` (default: the
    working directory; a job's runner works in its project root)."""
    where = Path(base) if base else Path()
    places = [where / name_or_path]
    if not Path(name_or_path).is_absolute():
        places += [where / "datasets" / name_or_path, paths.bundled_datasets_dir() / name_or_path]
    for place in places:
        if place.is_dir():
            return place.resolve()
    if places[0].exists():  # there, but a file: a slip of the user's, not a missing dataset
        raise UsageError(f"{name_or_path}: a file, not a dataset directory; {_GIVE_DIR}")
    searched = ", ".join(str(p) for p in places)
    raise NotFound(
        f"dataset '{name_or_path}' not found (searched {searched}); "
        "give a dataset directory path, or build one with `trn data build OUT --from FILE`"
    )


_GIVE_DIR = (
    f"give the directory holding {INDEX}, or make a dataset with "
    "`trn data build OUT --from FILE` or `trn data synth OUT`"
)


def dataset_dir(name_or_path: str) -> Path:
    """:func:`resolve_dataset`, then refuse a directory with no ``index.json`` as a usage error:
    ``trn data verify /tmp`` is a wrong argument, not a dataset with problems to list."""
    root = resolve_dataset(name_or_path)
    if not (root / INDEX).is_file():
        raise UsageError(f"{root}: not a dataset, it has no {INDEX}; {_GIVE_DIR}")
    return root


def read_raw(root: Path) -> tuple[dict[str, Any] | None, list[Problem]]:
    """The parsed index and every problem with the manifest itself (schema, names, paths)."""
    fix = f"fix {INDEX} or rebuild the dataset with `trn data build`"
    try:
        raw = json.loads((root / INDEX).read_bytes())
    except FileNotFoundError:
        return None, [
            _p(INDEX, "missing", "is this a dataset directory? build one with `trn data build`")
        ]
    except (OSError, ValueError) as err:
        return None, [_p(INDEX, f"unreadable ({err})", fix)]
    problems = [_p(INDEX, msg, fix) for msg in _schema_errors(raw)]
    if problems:
        return None, problems
    return raw, _manifest_problems(raw, root)


def _schema_errors(raw: Any) -> list[str]:
    import jsonschema

    schema = json.loads(paths.schema_path(SCHEMA).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(raw), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{_jpath(e.absolute_path)}: {e.message}" for e in errors]


def _jpath(parts: Any) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _manifest_problems(raw: dict[str, Any], root: Path) -> list[Problem]:
    problems: list[Problem] = []
    names = [f["name"] for f in raw["features"]]
    if len(set(names)) != len(names):
        problems.append(
            _p(INDEX, f"duplicate feature names {names}", "give each feature one entry")
        )
    for f in raw["features"]:
        if "class_names" in f and len(f["class_names"]) != f.get("num_classes"):
            what = f"has {len(f['class_names'])} class_names for num_classes={f.get('num_classes')}"
            problems.append(_p(f"feature {f['name']}", what, "give one name per class, in order"))
    base = root.resolve()
    for split, shards in raw["splits"].items():
        for i, shard in enumerate(shards):
            where = f"shard {split}/{i:05d}"
            if sorted(shard["files"]) != sorted(names):
                what = f"has files for {sorted(shard['files'])}, the index declares {sorted(names)}"
                problems.append(_p(where, what, "list one file per feature in every shard"))
            for ref in shard["files"].values():
                if not _inside(base, ref["path"]):
                    what = f"path '{ref['path']}' escapes the dataset directory"
                    problems.append(_p(where, what, "use a path relative to the dataset directory"))
    return problems


def _inside(base: Path, rel: str) -> bool:
    if Path(rel).is_absolute():
        return False
    return (base / rel).resolve().is_relative_to(base)


def load_index(root: Path | str) -> Index:
    """The validated index of the dataset at ``root``; raises DatasetError naming every problem."""
    root = Path(root)
    raw, problems = read_raw(root)
    if problems or raw is None:
        raise DatasetError(_name(root, raw), root, problems)
    return _parse(root, raw)


def _name(root: Path, raw: dict[str, Any] | None) -> str:
    return str(raw["name"]) if raw else root.name


def _parse(root: Path, raw: dict[str, Any]) -> Index:
    features = tuple(
        Feature(
            f["name"],
            f["dtype"],
            tuple(f["shape"]),
            f.get("num_classes"),
            tuple(f["class_names"]) if "class_names" in f else None,
        )  # fmt: skip
        for f in raw["features"]
    )
    splits = {
        split: tuple(
            Shard(split, i, s["num_samples"], {k: FileRef(**v) for k, v in s["files"].items()})
            for i, s in enumerate(shards)
        )
        for split, shards in raw["splits"].items()
    }
    fields = (raw["name"], raw["version"], raw["description"], raw["license"])
    return Index(root, *fields, features=features, splits=splits, raw=raw)
