"""Code capture against real git repos in temp dirs (outside this repo), and a git that hangs."""

from __future__ import annotations

import os
import subprocess
import time

import pytest
from prov_support import GIT_ENV, git, make_repo

from trn.provenance import code as code_mod
from trn.provenance.code import capture_code, strip_credentials


@pytest.fixture(autouse=True)
def _no_user_git_config(monkeypatch):
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)


def test_a_clean_tree_records_its_commit_and_writes_no_patch(tmp_path):
    repo = make_repo(tmp_path / "proj")
    git(repo, "remote", "add", "origin", "https://someone:ghp_secret@example.com/team/proj.git")
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    code = capture_code(repo, job_dir)
    assert code is not None
    assert code["commit"] == git(repo, "rev-parse", "HEAD")
    assert code["branch"] == "main" and code["repo"] == str(repo.resolve())
    assert code["dirty"] is False and code["patch"] is None and code["untracked"] == []
    assert code["remote"] == "https://example.com/team/proj.git"  # no user, no token
    assert not (job_dir / "code.patch").exists()


def test_edits_and_new_files_make_a_patch_that_applies_to_a_clean_checkout(tmp_path):
    repo = make_repo(tmp_path / "proj")
    commit = git(repo, "rev-parse", "HEAD")
    (repo / "train.py").write_text("lr = 0.003\n")  # unstaged
    (repo / "model.py").write_text("layers = 3\n")
    git(repo, "add", "model.py")  # staged: `git diff HEAD` has both
    git(repo, "mv", "README", "README.md")  # a rename: two paths in one status entry
    (repo / "notes.txt").write_text("not added\n")
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    code = capture_code(repo, job_dir)
    assert code["dirty"] is True and code["patch"] == "code.patch"
    assert code["untracked"] == ["notes.txt"] and code["patch_truncated"] is False
    patch = job_dir / "code.patch"
    assert b"lr = 0.003" in patch.read_bytes() and b"layers = 3" in patch.read_bytes()
    clean = tmp_path / "clean"
    subprocess.run(["git", "clone", "-q", str(repo), str(clean)], check=True)
    git(clean, "checkout", "-q", commit)
    assert capture_code(clean, None)["branch"] is None  # a detached HEAD
    git(clean, "apply", "--check", str(patch))
    git(clean, "apply", str(patch))
    assert (clean / "train.py").read_text() == "lr = 0.003\n"
    assert (clean / "README.md").read_text() == "a project\n" and not (clean / "README").exists()


def test_a_binary_and_a_non_utf8_file_survive_the_patch(tmp_path):
    repo = make_repo(tmp_path / "proj", {"latin1.txt": "caf\n", "blob.bin": "x"})
    commit = git(repo, "rev-parse", "HEAD")
    (repo / "latin1.txt").write_bytes("café à l'ancienne\n".encode("latin-1"))
    (repo / "blob.bin").write_bytes(bytes(range(256)) * 4)
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    code = capture_code(repo, job_dir)
    assert code["dirty"] is True and "error" not in code
    clean = tmp_path / "clean"
    subprocess.run(["git", "clone", "-q", str(repo), str(clean)], check=True)
    git(clean, "checkout", "-q", commit)
    git(clean, "apply", str(job_dir / "code.patch"))
    assert (clean / "latin1.txt").read_bytes() == "café à l'ancienne\n".encode("latin-1")
    assert (clean / "blob.bin").read_bytes() == bytes(range(256)) * 4


def test_a_patch_over_the_cap_is_cut_flagged_and_warned_about(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(code_mod, "PATCH_CAP", 4096)
    repo = make_repo(tmp_path / "proj")
    (repo / "train.py").write_text("".join(f"line {i}\n" for i in range(5000)))
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    code = capture_code(repo, job_dir)
    assert code["patch_truncated"] is True
    assert (job_dir / "code.patch").stat().st_size == 4096
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "code.patch cut at 4 KiB" in err and "commit them" in err


def test_outside_a_repo_or_without_git_there_is_nothing_to_record(tmp_path, monkeypatch):
    plain = tmp_path / "plain"
    plain.mkdir()
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    assert capture_code(plain, plain) is None
    repo = make_repo(tmp_path / "proj")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert capture_code(repo, None) is None


def test_a_hanging_git_is_timed_out_and_recorded_as_an_error(tmp_path, monkeypatch, capsys):
    repo = make_repo(tmp_path / "proj")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "git"
    fake.write_text("#!/bin/sh\nsleep 600\n")  # its child `sleep` keeps stdout open too
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    t0 = time.monotonic()
    code = capture_code(repo, tmp_path, budget_s=0.5)
    assert time.monotonic() - t0 < 300  # given up on, not waited for
    assert code is not None and "did not answer within 0.5 s" in code["error"]
    assert not (tmp_path / "code.patch").exists()
    assert capsys.readouterr().err == f"trn: warning: {code['error']}\n"


def test_credentials_are_stripped_from_remote_urls():
    assert strip_credentials("https://tok@github.com/a/b.git") == "https://github.com/a/b.git"
    assert strip_credentials("http://u:p@host:8080/x") == "http://host:8080/x"
    assert strip_credentials("ssh://git:pw@host/x") == "ssh://git@host/x"
    assert strip_credentials("git@github.com:a/b.git") == "git@github.com:a/b.git"
    assert strip_credentials("/srv/repos/x.git") == "/srv/repos/x.git"


def test_a_repo_with_no_commit_yet_is_recorded_without_one(tmp_path):
    repo = tmp_path / "new"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "a.py").write_text("x = 1\n")
    code = capture_code(repo, tmp_path)
    assert code["commit"] is None and code["untracked"] == ["a.py"]
