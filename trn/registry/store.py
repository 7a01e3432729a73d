"""Job dirs under ``$TRN_HOME/runs/YYYY/MM/DD/<job_id>`` and their ``job.json`` records."""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from trn import fsutil, ids
from trn.errors import NotFound
from trn.jobdir import HomeDir, JobDir
from trn.paths import make_dirs, readable_home, trn_home
from trn.registry.index import Index
from trn.registry.record import JobRecord, JobState, effective_state
from trn.text import did_you_mean

RECORD = JobDir.RECORD


class Registry:
    """Reads and writes job records under one ``$TRN_HOME``."""

    def __init__(self, home: Path | None = None) -> None:
        self.home = Path(home) if home else trn_home()
        self._index: Index | None = None

    # -- layout -----------------------------------------------------------------------------
    @property
    def runs_dir(self) -> Path:
        return HomeDir(self.home).runs

    @classmethod
    def of_job(cls, job_dir: Path) -> Registry:
        """The registry a job dir belongs to: ``<home>/runs/YYYY/MM/DD/<job_id>``."""
        return cls(Path(job_dir).resolve().parents[4])

    @property
    def index(self) -> Index:
        if self._index is None:
            fresh = not HomeDir(self.home).index.exists()
            try:
                self._index = Index(HomeDir(self.home).index)
            except (OSError, sqlite3.Error) as err:
                if "locked" in str(err):  # busy for longer than the timeout: not a read-only home
                    raise
                self._index = self._index_in_memory(err)
                fresh = True
            if fresh and self.runs_dir.is_dir():
                self.reindex()
        return self._index

    def _index_in_memory(self, err: Exception) -> Index:
        """A home whose index cannot be opened (read-only, or not made yet and not makeable):
        the records are still readable, so read them into a throwaway index."""
        readable_home(self.home)  # a home that is a file: the usage error, not an empty index
        if self.runs_dir.is_dir():
            print(
                f"trn: warning: cannot open {HomeDir(self.home).index} ({err}); "
                "reading the job records one by one",
                file=sys.stderr,
            )
        return Index(Path(":memory:"))

    def create_job_dir(self, now: float | None = None) -> tuple[str, Path]:
        """Make a new, empty job dir; the exclusive ``mkdir`` makes the id unique."""
        now = time.time() if now is None else now
        day = make_dirs(self.runs_dir / time.strftime("%Y/%m/%d", time.gmtime(now)), self.home)
        for _ in range(100):
            job_id = ids.new_id(now)
            try:
                (day / job_id).mkdir()
            except FileExistsError:
                continue
            return job_id, day / job_id
        raise RuntimeError("could not allocate a unique job id")  # 100 collisions: a bug

    # -- records ----------------------------------------------------------------------------
    def write(self, record: JobRecord) -> None:
        """Write ``job.json`` atomically, then refresh the index (a cache: failures only warn)."""
        fsutil.atomic_write_json(Path(record.job_dir) / RECORD, record.to_dict())
        try:
            self.index.upsert(record)
        except Exception as err:  # noqa: BLE001 - the index is rebuildable, the record is written
            print(
                f"trn: warning: job index not updated ({err}); run `trn reindex`", file=sys.stderr
            )

    @staticmethod
    def read(job_dir: Path) -> dict[str, Any]:
        """``job.json`` as its JSON, as stored (what a process hands on as it is); a typed
        record is :meth:`load`'s."""
        with open(Path(job_dir) / RECORD, encoding="utf-8") as f:
            data = json.load(f)
        if not isinstance(data, dict):
            raise ValueError(f"{Path(job_dir) / RECORD}: not a job record")
        return data

    @staticmethod
    def load(job_dir: Path | str) -> JobRecord:
        """The record in ``job_dir``'s ``job.json``, as stored. ``OSError``/``ValueError`` if
        it cannot be read."""
        return JobRecord.from_dict(Registry.read(Path(job_dir)))

    def find(self, job_id: str) -> JobRecord:
        """The record of ``job_id`` or of the one job whose id starts with it, as stored (the
        state shown is :func:`~trn.registry.record.view`'s)."""
        ids.check_job_id(job_id)
        matches = self.index.by_prefix(job_id)
        chosen = ids.pick(job_id, [m.job_id for m in matches])
        if chosen is None:
            # many commands take a sweep's id too: the nearest of either is the likely typo
            sweeps = [p.name for p in HomeDir(self.home).sweep_dirs()]
            hint = did_you_mean(job_id, self.index.ids() + sweeps)
            raise NotFound(
                f"no job {job_id!r} in {self.home}{hint} (see `trn list`; is TRN_HOME right?)"
            )
        record = next(m for m in matches if m.job_id == chosen)
        try:  # job.json is the truth; the index may lag behind a running job
            return self.load(record.job_dir)
        except (OSError, ValueError):
            return record

    def list(
        self,
        state: str | None = None,
        sweep_id: str | None = None,
        limit: int | None = 20,
        kind: str | None = None,
    ) -> list[JobRecord]:
        """Records newest first, as stored. ``state="lost"`` selects the jobs whose view is
        lost (stored as running or submitted); their records still say what was stored."""
        if state == JobState.LOST.value:
            running = self.index.query(JobState.RUNNING.value, sweep_id, kind=kind)
            cands = running + self.index.query(JobState.SUBMITTED.value, sweep_id, kind=kind)
            cands.sort(key=lambda r: r.job_id, reverse=True)
            out = [r for r in cands if effective_state(r) == JobState.LOST.value]
            return out[:limit] if limit else out
        return self.index.query(state, sweep_id, limit, kind)

    # -- rebuilding -------------------------------------------------------------------------
    def scan(self) -> Iterator[JobRecord]:
        """Every readable job record under ``runs/``; unreadable ones are reported and skipped."""
        for path in sorted(self.runs_dir.glob(f"*/*/*/*/{RECORD}")):
            try:
                yield self.load(path.parent)
            except (OSError, ValueError) as err:
                print(f"trn: warning: skipping {path}: {err}", file=sys.stderr)

    def reindex(self) -> int:
        index = self._index or Index(HomeDir(make_dirs(self.home, self.home)).index)
        self._index = index
        records = list(self.scan())
        index.replace_all(records)
        return len(records)
