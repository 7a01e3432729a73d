"""One problem with a dataset, and the error that reports it on one line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from trn.errors import UsageError


@dataclass(frozen=True)
class Problem:
    """Where (``index.json`` or a shard file), what is wrong, and how to fix it."""

    where: str
    what: str
    fix: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}; {self.fix}"


class DatasetError(UsageError):
    """A dataset that cannot be used as it is: names the dataset, the shard, the problem and the fix."""

    def __init__(self, dataset: str, root: Path | str, problems: list[Problem]):
        self.dataset, self.root, self.problems = dataset, Path(root), list(problems)
        more = len(self.problems) - 1
        tail = f" (and {more} more problem(s): run `trn data verify {root}`)" if more > 0 else ""
        super().__init__(f"dataset '{dataset}' at {root}: {self.problems[0]}{tail}")
