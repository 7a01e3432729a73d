"""The code a job ran: the project's git commit, branch, remote, dirty flag, and ``code.patch``.

Captured at submit, in a few git calls under one time budget: a git that hangs (a network
filesystem, a lock held by an editor) makes the record say ``{"error": ...}``, it never blocks
or fails the job. No git on PATH, or a directory outside any work tree: ``None``.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from trn import fsutil
from trn.jobdir import JobDir
from trn.proc import killpg

PATCH = JobDir.CODE_PATCH
PATCH_CAP = 1 << 20  # bytes of `git diff HEAD` kept; past it the patch is cut, flagged truncated
UNTRACKED_CAP = 200  # names listed; the rest is counted
BUDGET_S = 2.5  # every git call of one capture together

# No pager, no prompt for credentials, and no index.lock taken by `git status` (the user's own
# git commands running at the same moment must not fail because a job was submitted).
_GIT_ENV = {
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_OPTIONAL_LOCKS": "0",
    "GIT_PAGER": "cat",
    "LC_ALL": "C",
}


class _GitError(Exception):
    pass


class _Git:
    """``git -C root ...`` calls sharing one deadline; a call past it kills git's process group."""

    def __init__(self, root: Path, budget_s: float):
        self.root, self.deadline = root, time.monotonic() + budget_s
        self.env = {**os.environ, **_GIT_ENV}

    def start(self, *args: str) -> subprocess.Popen:
        if self.deadline - time.monotonic() <= 0:
            raise TimeoutError
        return subprocess.Popen(
            ["git", "-C", str(self.root), *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=self.env,
            start_new_session=True,  # so a timeout kills whatever git started too
        )

    def finish(self, proc: subprocess.Popen, limit: int | None = None) -> tuple[int, bytes, bool]:
        """``(returncode, stdout, cut)``; ``cut``: stdout went past ``limit`` bytes and was cut."""
        try:
            if limit is None:
                out, _ = proc.communicate(timeout=max(0.0, self.deadline - time.monotonic()))
                return proc.returncode, out, False
            out, cut = self._read_capped(proc, limit)
            return proc.wait(timeout=max(0.01, self.deadline - time.monotonic())), out, cut
        except subprocess.TimeoutExpired:
            raise TimeoutError from None
        finally:
            if proc.poll() is None:
                _kill(proc)
            if proc.stdout:
                proc.stdout.close()

    def together(self, *calls: tuple[str, ...]) -> list[tuple[int, bytes, bool]]:
        """Several calls at once: a capture costs the slowest of them, not their sum."""
        procs: list[subprocess.Popen] = []
        try:
            for args in calls:
                procs.append(self.start(*args))
            return [self.finish(proc) for proc in procs]
        finally:
            for proc in procs:
                if proc.poll() is None:
                    _kill(proc)

    def _read_capped(self, proc: subprocess.Popen, limit: int) -> tuple[bytes, bool]:
        """Up to ``limit`` bytes; past it git is stopped (the rest of a huge diff is not read)."""
        import selectors

        assert proc.stdout is not None
        chunks: list[bytes] = []
        size = 0
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            while True:
                left = self.deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    raise subprocess.TimeoutExpired("git", 0)
                block = os.read(proc.stdout.fileno(), 1 << 16)
                if not block:
                    return b"".join(chunks), False
                chunks.append(block)
                size += len(block)
                if size > limit:
                    _kill(proc)
                    return b"".join(chunks)[:limit], True


def _kill(proc: subprocess.Popen) -> None:
    killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def capture_code(
    root: Path | str, job_dir: Path | str | None, budget_s: float = BUDGET_S
) -> dict[str, Any] | None:
    """The ``code`` of a job whose project lives in ``root``; writes ``code.patch`` into
    ``job_dir`` when the tree is dirty (``job_dir`` None: nothing written). Never raises."""
    git = _Git(Path(root), budget_s)
    try:
        code = _capture(git, Path(job_dir) if job_dir else None)
    except FileNotFoundError:  # no git on PATH (or no such root): nothing to say
        return None
    except TimeoutError:
        code = {
            "error": f"git did not answer within {budget_s:g} s in {root}; code not recorded "
            "(check that `git status` works there)"
        }
    except Exception as err:  # noqa: BLE001 - provenance must never fail a submission
        code = {"error": f"code not recorded: {type(err).__name__}: {err}"}
    if code and code.get("error"):
        _warn(code["error"])
    elif code and code["patch_truncated"]:
        _warn(
            f"{PATCH} cut at {PATCH_CAP >> 10} KiB: the uncommitted changes in {code['repo']} are "
            "bigger (commit them, or .gitignore large generated files), so it will not apply"
        )
    return code


def capture_project(
    root: Path | str, job_dir: Path | str | None, home: Path | None = None, *, found: bool = False
) -> dict[str, Any] | None:
    """git's view of the project in ``root``; for a ``found`` project (``[tool.trn]``,
    ``--config-dir``) outside any work tree, a snapshot of its source
    (:mod:`trn.provenance.snapshot`). Never raises."""
    code = capture_code(root, job_dir)
    if code is not None or not found:
        return code
    from trn.provenance.snapshot import capture_snapshot

    try:
        return capture_snapshot(Path(root), Path(job_dir) if job_dir else None, home)
    except Exception as err:  # noqa: BLE001 - provenance must never fail a submission
        _warn(f"code not recorded: {type(err).__name__}: {err}")
        return {"error": f"code not recorded: {type(err).__name__}: {err}"}


def _warn(message: str) -> None:
    print(f"trn: warning: {message}", file=sys.stderr)


def _capture(git: _Git, job_dir: Path | None) -> dict[str, Any] | None:
    (rc, top, _), (_, remotes, _), (status_rc, status, _) = git.together(
        ("rev-parse", "--show-toplevel"),
        ("config", "--get-regexp", r"^remote\..*\.url$"),
        ("status", "--porcelain=v2", "--branch", "-z"),
    )
    if rc != 0 or not top.strip():  # not a work tree (or git refused it: dubious ownership)
        return None
    if status_rc != 0:
        raise _GitError(f"git status exited with {status_rc}")
    head, changed, untracked = _parse_status(status)
    commit = head.get("branch.oid")
    branch = head.get("branch.head")
    code: dict[str, Any] = {
        "repo": top.decode(errors="backslashreplace").strip(),
        "commit": None if commit == "(initial)" else commit,  # (initial): no commit yet
        "branch": None if branch == "(detached)" else branch,
        "remote": _remote(remotes.decode(errors="replace")),
        "dirty": bool(changed),
        "patch": None,
        "patch_sha256": None,
        "patch_truncated": False,
        "untracked": untracked[:UNTRACKED_CAP],
    }
    if len(untracked) > UNTRACKED_CAP:
        code["untracked_more"] = len(untracked) - UNTRACKED_CAP
    if changed and code["commit"]:
        diff = git.start("diff", "HEAD", "--binary", "--no-color", "--no-ext-diff")
        rc, patch, cut = git.finish(diff, limit=PATCH_CAP)
        if rc not in (0, -signal.SIGKILL) and not cut:
            raise _GitError(f"git diff HEAD exited with {rc}")
        code.update(patch_sha256=hashlib.sha256(patch).hexdigest(), patch_truncated=cut)
        if job_dir is not None:
            fsutil.atomic_write_bytes(job_dir / PATCH, patch)
            code["patch"] = PATCH
    return code


def _parse_status(out: bytes) -> tuple[dict[str, str], list[str], list[str]]:
    """``git status --porcelain=v2 --branch -z``: the ``# branch.*`` headers, the changed
    tracked paths, and the untracked ones."""
    head: dict[str, str] = {}
    changed, untracked = [], []
    entries = iter(out.split(b"\0"))
    for entry in entries:
        text = entry.decode(errors="backslashreplace")
        kind = text[:1]
        if kind == "#":
            key, _, value = text[2:].partition(" ")
            head[key] = value
        elif kind == "?":
            untracked.append(text[2:])
        elif kind in ("1", "u"):
            changed.append(text.split(" ", 8 if kind == "1" else 10)[-1])
        elif kind == "2":  # a rename or copy: its source path is the next entry
            changed.append(text.split(" ", 9)[-1])
            next(entries, None)
    return head, changed, untracked


def _remote(config: str) -> str | None:
    """``origin``'s URL (else the first remote's), credentials removed."""
    urls = {}
    for line in config.splitlines():
        key, _, url = line.partition(" ")
        urls[key[len("remote.") : -len(".url")]] = url.strip()
    if not urls:
        return None
    return strip_credentials(urls.get("origin") or next(iter(urls.values())))


def strip_credentials(url: str) -> str:
    """``https://user:token@host/x`` -> ``https://host/x`` (a token is often the user name, so
    http(s) loses its whole user info); ``ssh://git:pw@host`` keeps ``git@``; scp-style
    ``git@host:x`` has no secret and stays."""
    parts = urlsplit(url)
    if not parts.scheme or "@" not in parts.netloc:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    if parts.scheme in ("http", "https", "ftp", "ftps"):
        netloc = hostport
    else:
        netloc = f"{userinfo.partition(':')[0]}@{hostport}"
    return urlunsplit(parts._replace(netloc=netloc))
