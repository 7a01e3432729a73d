"""The SQLite index of job records: a cache of the job dirs, rebuilt by ``trn reindex``."""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from trn.registry import netfs
from trn.registry.record import JobRecord

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id     TEXT PRIMARY KEY,
    state      TEXT NOT NULL,
    sweep_id   TEXT,
    created_at TEXT NOT NULL,
    job_dir    TEXT NOT NULL,
    record     TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, job_id);
CREATE INDEX IF NOT EXISTS jobs_sweep ON jobs(sweep_id, job_id);
"""

# Version 2: the numbers `trn list --sort/--where` select on, one row each, so that a sort over
# 100,000 jobs reads an index instead of 100,000 JSON records. Filled from each record's metrics
# and overrides; an index.db of version 0/1 gets them from its own records on first open.
SCHEMA_VERSION = 2
_SCHEMA_2 = """
CREATE TABLE IF NOT EXISTS metrics (
    job_id TEXT NOT NULL,
    name   TEXT NOT NULL,
    value  REAL NOT NULL,
    PRIMARY KEY (job_id, name)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS metrics_by_value ON metrics(name, value, job_id);
CREATE TABLE IF NOT EXISTS params (
    job_id TEXT NOT NULL,
    key    TEXT NOT NULL,
    value  TEXT NOT NULL,
    num    REAL,
    PRIMARY KEY (job_id, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS params_by_value ON params(key, value);
CREATE INDEX IF NOT EXISTS params_by_number ON params(key, num);
"""


def params(overrides: Iterable[str]) -> dict[str, str]:
    """``optimizer.lr=1e-3`` -> ``{"optimizer.lr": "1e-3"}``; ``+k=v``/``++k=v`` count as ``k``,
    deletions (``~k``) and anything without ``=`` do not. The last one of a key wins."""
    out: dict[str, str] = {}
    for override in overrides:
        key, sep, value = str(override).partition("=")
        key = key.lstrip("+")
        if sep and key and not key.startswith("~"):
            out[key] = value
    return out


def number(text: object) -> float | None:
    try:
        value = float(text) if isinstance(text, (str, int, float)) else math.nan
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


MetricRow = tuple[str, str, float]  # job_id, name, value
ParamRow = tuple[str, str, str, float | None]  # job_id, key, value, the value as a number


def _numbers(r: JobRecord) -> tuple[list[MetricRow], list[ParamRow]]:
    metrics = [
        (r.job_id, str(name), float(v))
        for name, v in r.metrics.items()
        if number(v) is not None and not isinstance(v, (bool, str))
    ]
    overrides = [(r.job_id, k, v, number(v)) for k, v in params(r.overrides).items()]
    return metrics, overrides


def _row(r: JobRecord) -> tuple[str, str, str | None, str, str, str]:
    return (
        r.job_id,
        r.state,
        r.sweep_id,
        r.created_at,
        r.job_dir,
        json.dumps(r.to_dict(), sort_keys=True),
    )


def _records(rows: Iterable[tuple[str]]) -> list[JobRecord]:
    """The records of ``SELECT record`` rows; a row that is no record (written by hand, or
    torn) is left out: the index is a cache, ``trn reindex`` rebuilds it from the job dirs."""
    out = []
    for (text,) in rows:
        try:
            out.append(JobRecord.from_dict(json.loads(text)))
        except ValueError:
            continue
    return out


@dataclass(frozen=True)
class Search:
    """Jobs whose overrides match ``where`` (``key -> value``, numbers compared as numbers), in
    ``states`` and ``sweep_id``, sorted by the metric ``sort`` (jobs without it left out) or
    newest first."""

    states: list[str] | None = None
    sweep_id: str | None = None
    where: dict[str, str] | None = None
    sort: str | None = None
    descending: bool = True
    limit: int | None = None
    kind: str | None = None  # train or eval


class Index:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        # WAL needs every process on one host; a home shared over the network has the rollback
        # journal, whose locks the filesystem keeps (trn.registry.netfs)
        self.journal = "delete" if netfs.is_network(self.path.parent) else "wal"
        self._use_journal(self.journal)
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        self._migrate()

    def _use_journal(self, mode: str) -> None:
        """Switch the index to journal ``mode`` (``wal``, ``delete``). The switch takes an
        exclusive lock and fails at once, with no busy wait, while another process opens the
        same file (jobs starting together): try again for a while. An index already in that
        mode is left alone."""
        for attempt in range(100):
            try:
                if self.db.execute("PRAGMA journal_mode").fetchone()[0] != mode:
                    self.db.execute(f"PRAGMA journal_mode={mode.upper()}")
                return
            except sqlite3.OperationalError as err:
                if "locked" not in str(err) or attempt == 99:
                    raise
                time.sleep(0.05)

    def _migrate(self) -> None:
        if self.db.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:
            return
        with self.transaction() as db:  # another process may have migrated while we waited
            if db.execute("PRAGMA user_version").fetchone()[0] >= SCHEMA_VERSION:
                return
            for statement in _SCHEMA_2.split(";"):  # not executescript: it would COMMIT first
                if statement.strip():
                    db.execute(statement)
            self._write_numbers(db, _records(db.execute("SELECT record FROM jobs")))
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @staticmethod
    def _write_numbers(db: sqlite3.Connection, records: list[JobRecord]) -> None:
        ids = [(r.job_id,) for r in records]
        db.executemany("DELETE FROM metrics WHERE job_id = ?", ids)
        db.executemany("DELETE FROM params WHERE job_id = ?", ids)
        for r in records:
            metrics, overrides = _numbers(r)
            db.executemany("INSERT OR REPLACE INTO metrics VALUES (?, ?, ?)", metrics)
            db.executemany("INSERT OR REPLACE INTO params VALUES (?, ?, ?, ?)", overrides)

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def upsert(self, record: JobRecord) -> None:
        self.upsert_many([record])

    def upsert_many(self, records: Iterable[JobRecord]) -> None:
        records = list(records)
        rows = [_row(r) for r in records]
        with self.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO jobs VALUES (?, ?, ?, ?, ?, ?)", rows)
            self._write_numbers(db, records)

    def replace_all(self, records: Iterable[JobRecord]) -> None:
        """Swap the whole content in one transaction (readers see old or new, never empty)."""
        records = list(records)
        with self.transaction() as db:
            for table in ("jobs", "metrics", "params"):
                db.execute(f"DELETE FROM {table}")
            db.executemany(
                "INSERT OR REPLACE INTO jobs VALUES (?, ?, ?, ?, ?, ?)", [_row(r) for r in records]
            )
            self._write_numbers(db, records)

    def delete(self, job_id: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM jobs WHERE job_id = ?", (job_id,))

    def query(
        self,
        state: str | None = None,
        sweep_id: str | None = None,
        limit: int | None = None,
        kind: str | None = None,
    ) -> list[JobRecord]:
        """Records newest first (job ids sort by creation time); ``kind``: train or eval."""
        where: list[str] = []
        args: list[str] = []
        if state:
            where.append("state = ?")
            args.append(state)
        if sweep_id:
            where.append("sweep_id = ?")
            args.append(sweep_id)
        if kind:  # records from before there were eval jobs have no kind: they trained
            where.append("COALESCE(json_extract(record, '$.kind'), 'train') = ?")
            args.append(kind)
        sql = "SELECT record FROM jobs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY job_id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return _records(self.db.execute(sql, args))

    def by_prefix(self, prefix: str, limit: int = 2) -> list[JobRecord]:
        hi = prefix + "\uffff"
        rows = self.db.execute(
            "SELECT record FROM jobs WHERE job_id >= ? AND job_id < ? ORDER BY job_id LIMIT ?",
            (prefix, hi, limit),
        )
        return _records(rows)

    def ids(self, limit: int = 5000) -> list[str]:
        """The newest ``limit`` job ids (what a mistyped id is compared with)."""
        rows = self.db.execute("SELECT job_id FROM jobs ORDER BY job_id DESC LIMIT ?", (limit,))
        return [row[0] for row in rows]

    def count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0])

    def search(self, q: Search) -> list[JobRecord]:
        """Records matching ``q`` (one indexed query)."""
        sql: list[str] = ["SELECT j.record FROM jobs j"]
        args: list[str | float | None] = []
        if q.sort:
            sql.append("JOIN metrics m ON m.job_id = j.job_id AND m.name = ?")
            args.append(q.sort)
        conds = []
        if q.states:
            conds.append(f"j.state IN ({', '.join('?' * len(q.states))})")
            args += q.states
        if q.sweep_id:
            conds.append("j.sweep_id = ?")
            args.append(q.sweep_id)
        if q.kind:
            conds.append("COALESCE(json_extract(j.record, '$.kind'), 'train') = ?")
            args.append(q.kind)
        for key, value in (q.where or {}).items():
            conds.append(  # driven by the params indexes: a rare value costs a rare lookup
                "j.job_id IN (SELECT job_id FROM params"
                " WHERE (key = ? AND value = ?) OR (key = ? AND num = ?))"
            )
            args += [key, value, key, number(value)]
        if conds:
            sql.append("WHERE " + " AND ".join(conds))
        order = "DESC" if q.descending else "ASC"
        sql.append(
            f"ORDER BY m.value {order}, m.job_id {order}" if q.sort else "ORDER BY j.job_id DESC"
        )
        if q.limit:
            sql.append(f"LIMIT {int(q.limit)}")
        return _records(self.db.execute(" ".join(sql), args))

    def has_metric(self, name: str) -> bool:
        return (
            self.db.execute("SELECT 1 FROM metrics WHERE name = ? LIMIT 1", (name,)).fetchone()
            is not None
        )

    def metric_names(self) -> list[str]:
        return [
            row[0] for row in self.db.execute("SELECT DISTINCT name FROM metrics ORDER BY name")
        ]

    def param_keys(self) -> list[str]:
        return [row[0] for row in self.db.execute("SELECT DISTINCT key FROM params ORDER BY key")]

    def children(self, job_id: str) -> list[JobRecord]:
        """The jobs resumed from ``job_id`` (a scan: rare, and only ``trn best`` asks)."""
        rows = self.db.execute(
            "SELECT record FROM jobs WHERE json_extract(record, '$.parent_job_id') = ?", (job_id,)
        )
        return _records(rows)
