"""A job index on a network filesystem (a cluster's shared TRN_HOME) uses SQLite's rollback
journal, not WAL, whose shared memory does not reach other hosts. The mount table is the
boundary faked here: this machine has no NFS server to mount."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from trn.registry import netfs
from trn.registry.index import Index

MOUNTS = """\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 252:1 / / rw,relatime - ext4 /dev/vda1 rw
40 27 0:45 / /shared rw,relatime - nfs4 fileserver:/export rw,vers=4.2
41 40 252:2 / /shared/local rw,relatime - xfs /dev/vdb rw
42 27 0:46 / /mnt/team\\040data rw,relatime - cifs //nas/team rw
43 27 0:47 / /scratch rw,relatime - lustre 10.0.0.1@tcp:/scratch rw
44 27 0:48 / /scratch rw,relatime - tmpfs tmpfs rw
"""


def test_the_filesystem_is_that_of_the_deepest_mount_above_the_path(tmp_path):
    table = tmp_path / "mountinfo"
    table.write_text(MOUNTS)
    assert netfs.filesystem("/shared/runs/index.db", table) == "nfs4"
    assert netfs.filesystem("/shared", table) == "nfs4"
    assert netfs.filesystem("/shared/local/index.db", table) == "xfs"  # mounted inside it
    assert netfs.filesystem("/sharedother/x", table) == "ext4"  # a prefix is no parent
    assert netfs.filesystem("/mnt/team data/home", table) == "cifs"  # \040 is a space
    assert netfs.filesystem("/scratch/home", table) == "tmpfs"  # the last mount there wins
    assert netfs.filesystem("/home/me", table) == "ext4"
    assert netfs.is_network("/shared/home", table) and netfs.is_network("/mnt/team data", table)
    assert not netfs.is_network("/home/me", table)
    assert netfs.filesystem("/x", tmp_path / "none") is None  # no mount table: unknown


def test_this_machines_own_table_names_the_filesystem_of_a_real_path(tmp_path):
    kind = netfs.filesystem(tmp_path)
    assert kind and kind not in netfs.NETWORK  # pytest's temp dir is local disk or tmpfs


def journal_of(path: Path) -> str:
    db = sqlite3.connect(path)
    try:
        return db.execute("PRAGMA journal_mode").fetchone()[0]
    finally:
        db.close()


def test_an_index_on_a_network_filesystem_uses_the_rollback_journal(tmp_path, monkeypatch):
    local = Index(tmp_path / "local" / "index.db")
    assert local.journal == "wal" and journal_of(tmp_path / "local" / "index.db") == "wal"

    monkeypatch.setattr(netfs, "filesystem", lambda path, mountinfo=None: "nfs4")
    shared = Index(tmp_path / "shared" / "index.db")
    assert shared.journal == "delete" and journal_of(tmp_path / "shared" / "index.db") == "delete"
    # an index made in WAL (a home moved onto NFS) is switched when it is opened there
    local.db.close()
    moved = Index(tmp_path / "local" / "index.db")
    assert moved.journal == "delete" and journal_of(tmp_path / "local" / "index.db") == "delete"
