"""Whether a path lies on a network filesystem, where SQLite's write-ahead log does not work.

SQLite's WAL keeps its index in shared memory (the ``-shm`` file every process maps): processes
on different hosts never see each other's, so a ``TRN_HOME`` shared by a cluster's nodes over NFS
would corrupt the job index ("WAL does not work over a network filesystem",
https://www.sqlite.org/wal.html). On such a filesystem the index uses SQLite's rollback journal
instead, which relies on the filesystem's POSIX locks (NFSv4, Lustre, GPFS and CephFS have them).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

MOUNTINFO = Path("/proc/self/mountinfo")
# the types /proc names them by; fuse.* as FUSE mounts name themselves
NETWORK = frozenset(
    {"nfs", "nfs4", "cifs", "smb3", "smbfs", "lustre", "gpfs", "beegfs", "ceph", "fuse.ceph",
     "glusterfs", "fuse.glusterfs", "fuse.sshfs", "9p", "afs", "ocfs2", "gfs2", "panfs", "wekafs"}
)  # fmt: skip


def filesystem(path: Path | str, mountinfo: Path = MOUNTINFO) -> str | None:
    """The type of the filesystem ``path`` is on (that of the deepest mount point above it, the
    last one mounted there); None where the mount table cannot be read (not Linux)."""
    try:
        table = mountinfo.read_text()
    except OSError:
        return None
    target = os.path.realpath(path)
    best, kind = "", None
    for line in table.splitlines():
        left, sep, right = line.partition(" - ")
        fields = left.split()
        if not sep or len(fields) < 5 or not right.split():
            continue
        point = _unescape(fields[4])
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, right.split()[0]
    return kind


def is_network(path: Path | str, mountinfo: Path = MOUNTINFO) -> bool:
    return filesystem(path, mountinfo) in NETWORK


def _unescape(field: str) -> str:
    """A mount point as the kernel escapes it: a space is ``\\040``."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)
