"""The SQLite index of job records: a cache of the job dirs, rebuilt by ``trn reindex``."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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


def _row(r: dict[str, Any]) -> tuple[str, str, str | None, str, str, str]:
    return (
        r["job_id"],
        r["state"],
        r.get("sweep_id"),
        r["created_at"],
        r["job_dir"],
        json.dumps(r, sort_keys=True),
    )


class Index:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        self._use_wal()
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)

    def _use_wal(self) -> None:
        """Switch a new index to WAL. The switch takes an exclusive lock and fails at once, with
        no busy wait, while another process opens the same new file (jobs starting together):
        try again for a while. An index already in WAL is left alone."""
        for attempt in range(100):
            try:
                if self.db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    self.db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as err:
                if "locked" not in str(err) or attempt == 99:
                    raise
                time.sleep(0.05)

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

    def upsert(self, record: dict[str, Any]) -> None:
        self.upsert_many([record])

    def upsert_many(self, records: Iterable[dict[str, Any]]) -> None:
        rows = [_row(r) for r in records]
        with self.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO jobs VALUES (?, ?, ?, ?, ?, ?)", rows)

    def replace_all(self, records: Iterable[dict[str, Any]]) -> None:
        """Swap the whole content in one transaction (readers see old or new, never empty)."""
        with self.transaction() as db:
            db.execute("DELETE FROM jobs")
            db.executemany(
                "INSERT OR REPLACE INTO jobs VALUES (?, ?, ?, ?, ?, ?)", [_row(r) for r in records]
            )

    def delete(self, job_id: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM jobs WHERE job_id = ?", (job_id,))

    def query(
        self,
        state: str | None = None,
        sweep_id: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Records newest first (job ids sort by creation time)."""
        where, args = [], []
        if state:
            where.append("state = ?")
            args.append(state)
        if sweep_id:
            where.append("sweep_id = ?")
            args.append(sweep_id)
        sql = "SELECT record FROM jobs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY job_id DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [json.loads(row[0]) for row in self.db.execute(sql, args)]

    def by_prefix(self, prefix: str, limit: int = 2) -> list[dict[str, Any]]:
        hi = prefix + "\uffff"
        rows = self.db.execute(
            "SELECT record FROM jobs WHERE job_id >= ? AND job_id < ? ORDER BY job_id LIMIT ?",
            (prefix, hi, limit),
        )
        return [json.loads(row[0]) for row in rows]

    def count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0])
