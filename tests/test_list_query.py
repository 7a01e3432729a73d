"""`trn list --sort/--where/--columns` over the SQLite index, and the index's schema migration."""

from __future__ import annotations

import json
import sqlite3

import pytest
from prov_support import write_job

from trn.registry.index import SCHEMA_VERSION, Index
from trn.registry.store import Registry

CONFIG = {"optimizer": {"lr": 0.001}, "trainer": {"max_epochs": 3}}


@pytest.fixture
def jobs(trn_home):
    registry = Registry()
    out = []
    for i, (lr, acc, state) in enumerate(
        [
            ("1e-3", 0.7, "completed"),
            ("0.003", 0.9, "completed"),
            ("0.003", 0.8, "failed"),
            ("0.01", None, "completed"),
        ]
    ):
        metrics = {"val/loss": 1.0 - i / 10} | ({"val/acc": acc} if acc is not None else {})
        out.append(
            write_job(
                registry,
                CONFIG,
                now=1_700_000_000 + i,
                state=state,
                overrides=[f"optimizer.lr={lr}", "+tag=x"],
                metrics=metrics,
            )
        )
    return out


def ids(out: str) -> list[str]:
    return [r["job_id"] for r in json.loads(out)]


def test_sort_by_a_metric_highest_first_or_reversed(cli, jobs):
    rc, out, _ = cli("list", "--sort", "val/acc", "--json")
    assert rc == 0 and ids(out) == [jobs[1]["job_id"], jobs[2]["job_id"], jobs[0]["job_id"]]
    _, out, _ = cli("list", "--sort", "val/acc", "--reverse", "--limit", "1", "--json")
    assert ids(out) == [jobs[0]["job_id"]]
    _, out, _ = cli("list", "--sort", "val/acc")
    assert out.splitlines()[0].split()[-1] == "val/acc" and "0.9" in out.splitlines()[1]


def test_where_matches_overrides_numbers_as_numbers_and_state(cli, jobs):
    _, out, _ = cli("list", "--where", "optimizer.lr=0.001", "--json")  # given as 1e-3
    assert ids(out) == [jobs[0]["job_id"]]
    _, out, _ = cli("list", "--where", "optimizer.lr=3e-3", "--where", "state=completed", "--json")
    assert ids(out) == [jobs[1]["job_id"]]
    _, out, _ = cli("list", "--where", "tag=x", "--sort", "val/loss", "--reverse", "--json")
    assert ids(out) == [j["job_id"] for j in reversed(jobs)]
    rc, out, _ = cli("list", "--where", "optimizer.lr=0.5")
    assert rc == 0 and out.strip() == "no jobs match"


def test_columns_show_metrics_overrides_and_config_values(cli, jobs):
    rc, out, _ = cli(
        "list", "--columns", "val/acc,optimizer.lr,trainer.max_epochs,nope", "--limit", "1"
    )
    assert rc == 0
    header, row = out.splitlines()
    assert header.split()[-4:] == ["val/acc", "optimizer.lr", "trainer.max_epochs", "nope"]
    assert row.split()[-4:] == ["-", "0.01", "3", "-"]  # newest job: no val/acc


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ("--sort", "val/nope"),
            "--sort val/nope: no job has that metric; metrics: val/acc, val/loss",
        ),
        (("--where", "optimizer.lr"), "--where 'optimizer.lr': expected KEY=VALUE"),
        (("--where", "=3"), "expected KEY=VALUE"),
        (("--where", "optimizer.lr="), "expected KEY=VALUE"),
        (("--where", "state=done"), "--where state=done: no such state"),
        (("--where", "state=failed", "--state", "completed"), "disagree"),
        (("--columns", "val/acc,,x"), "--columns 'val/acc,,x': expected names"),
    ],
)
def test_bad_input_is_one_line_exit_2(cli, jobs, argv, message):
    rc, out, err = cli("list", *argv)
    assert rc == 2 and err.count("\n") == 1 and message in err, err
    assert out == ""


def test_an_old_index_gets_the_new_tables_filled_from_its_records(tmp_path, trn_home):
    registry = Registry()
    records = [
        write_job(
            registry,
            CONFIG,
            now=1_700_000_000 + i,
            overrides=[f"optimizer.lr={i}"],
            metrics={"val/acc": i / 10},
        )
        for i in range(3)
    ]
    registry.index.close()
    db = trn_home / "index.db"
    db.unlink()
    old = sqlite3.connect(db)  # the version 0 schema: the jobs table only
    old.executescript(
        "CREATE TABLE jobs (job_id TEXT PRIMARY KEY, state TEXT NOT NULL, sweep_id TEXT,"
        " created_at TEXT NOT NULL, job_dir TEXT NOT NULL, record TEXT NOT NULL);"
    )
    old.executemany(
        "INSERT INTO jobs VALUES (?, ?, ?, ?, ?, ?)",
        [
            (r["job_id"], r["state"], None, r["created_at"], r["job_dir"], json.dumps(r))
            for r in records
        ],
    )
    old.commit()
    old.close()
    index = Index(db)
    assert index.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert index.metric_names() == ["val/acc"] and index.param_keys() == ["optimizer.lr"]
    index.close()
    reopened = Index(db)  # migrated once: opening again changes nothing
    assert reopened.db.execute("SELECT COUNT(*) FROM metrics").fetchone()[0] == 3
    reopened.close()


def test_reindex_rebuilds_the_metrics(cli, jobs, trn_home):
    Registry().index.db.execute("DELETE FROM metrics")
    assert cli("list", "--sort", "val/acc")[0] == 2
    assert cli("reindex")[0] == 0
    rc, out, _ = cli("list", "--sort", "val/acc", "--json")
    assert rc == 0 and ids(out)[0] == jobs[1]["job_id"]
