"""Checkpoint files on their own: verify before load, refuse anything corrupt, moved or unsafe.

Fast, in-process: a job dir with a real ``torch.save``d checkpoint and meta, then damaged in
each way a disk, a crash or an attacker could damage it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from trn.checkpoints.load import apply_weights, load_checkpoint, load_weights
from trn.checkpoints.meta import CheckpointError, find_latest, sha256_file, verify
from trn.errors import NotFound
from trn.registry.record import JobRecord
from trn.registry.store import Registry

JOB = "261128-120000-abcd"


def write_checkpoint(folder: Path, name: str, payload: object, step: int, **meta: object) -> Path:
    """A committed checkpoint as AtomicCheckpoint writes one: ckpt, then meta, then latest."""
    folder.mkdir(parents=True, exist_ok=True)
    ckpt = folder / f"{name}.ckpt"
    torch.save(payload, ckpt)
    body = {
        "schema": "trn.checkpoint/1",
        "job_id": JOB,
        "attempt": 1,
        "step": step,
        "epoch": 0,
        "reason": "step",
        "ckpt": ckpt.name,
        "sha256": sha256_file(ckpt),
        "bytes": ckpt.stat().st_size,
        "metrics": {},
        "config": {"seed": 0},
        **meta,
    }
    meta_path = folder / f"{name}.meta.json"
    meta_path.write_text(json.dumps(body))
    (folder / "latest.json").write_text(json.dumps({"meta": meta_path.name}))
    return meta_path


@pytest.fixture
def job_dir(trn_home) -> Path:
    """A registered job with one committed checkpoint of a Linear's state_dict."""
    job_dir = trn_home / "runs" / "2026" / "11" / "28" / JOB
    job_dir.mkdir(parents=True)
    Registry(trn_home).write(JobRecord(job_id=JOB, job_dir=str(job_dir), state="preempted"))
    model = torch.nn.Linear(3, 2)
    write_checkpoint(job_dir / "checkpoints", "e000-s0000004-step", _lightning(model), 4)
    return job_dir


def _lightning(model: torch.nn.Module) -> dict:
    return {"state_dict": {f"model.{k}": v for k, v in model.state_dict().items()}, "epoch": 0}


def meta_of(job_dir: Path) -> Path:
    return job_dir / "checkpoints" / "e000-s0000004-step.meta.json"


def test_a_committed_checkpoint_verifies_and_loads(job_dir):
    meta, checkpoint = load_checkpoint(meta_of(job_dir))
    assert meta["step"] == 4 and set(checkpoint["state_dict"]) == {"model.weight", "model.bias"}
    assert find_latest(job_dir / "checkpoints") == meta_of(job_dir)


@pytest.mark.parametrize("damage", ["truncate", "flip_byte", "delete"])
def test_damaged_ckpt_is_refused_naming_the_file(job_dir, damage):
    ckpt = job_dir / "checkpoints" / "e000-s0000004-step.ckpt"
    data = ckpt.read_bytes()
    if damage == "truncate":
        ckpt.write_bytes(data[: len(data) // 2])
    elif damage == "flip_byte":
        ckpt.write_bytes(data[:100] + bytes([data[100] ^ 1]) + data[101:])
    else:
        ckpt.unlink()
    with pytest.raises(CheckpointError, match=str(ckpt)):
        verify(meta_of(job_dir))
    assert find_latest(job_dir / "checkpoints") is None  # nothing valid left


@pytest.mark.parametrize(
    "text",
    ['{"schema": "trn.checkpoint/1"', "[]", '{"schema": "trn.checkpoint/1", "step": 4}', ""],
)
def test_corrupt_or_truncated_meta_is_refused(job_dir, text):
    meta_of(job_dir).write_text(text)
    with pytest.raises(CheckpointError, match="invalid checkpoint meta|unreadable checkpoint meta"):
        verify(meta_of(job_dir))


@pytest.mark.parametrize("ckpt", ["../../other/x.ckpt", "/etc/passwd.ckpt", "sub/x.ckpt"])
def test_meta_pointing_outside_its_dir_is_refused(job_dir, ckpt):
    meta = json.loads(meta_of(job_dir).read_text())
    meta_of(job_dir).write_text(json.dumps({**meta, "ckpt": ckpt}))
    with pytest.raises(CheckpointError, match="outside"):
        verify(meta_of(job_dir))


def test_symlinked_ckpt_leading_outside_is_refused(job_dir, tmp_path):
    ckpt = job_dir / "checkpoints" / "e000-s0000004-step.ckpt"
    outside = tmp_path / "elsewhere.ckpt"
    ckpt.rename(outside)
    ckpt.symlink_to(outside)
    with pytest.raises(CheckpointError, match="outside"):
        verify(meta_of(job_dir))


def test_meta_of_another_job_in_this_job_dir_is_refused(job_dir):
    meta = json.loads(meta_of(job_dir).read_text())
    meta_of(job_dir).write_text(json.dumps({**meta, "job_id": "261128-999999-zzzz"}))
    with pytest.raises(CheckpointError, match="moved or tampered"):
        verify(meta_of(job_dir))


class Payload:
    """Unpickling this runs ``touch MARKER``: what a malicious checkpoint would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_code_payload_never_runs_even_with_a_valid_sha(job_dir, tmp_path):
    marker = tmp_path / "payload-ran"
    folder = job_dir / "checkpoints"
    meta_path = write_checkpoint(folder, "e000-s0000008-step", {"x": Payload(marker)}, 8)
    verify(meta_path)  # the sha matches: only the scan and weights_only stand in the way
    refused = "e000-s0000008-step.ckpt: refused, its pickle asks for posix.system"
    with pytest.raises(CheckpointError, match=refused):
        load_checkpoint(meta_path)
    with pytest.raises(CheckpointError, match="asks for posix.system, which nothing trusts"):
        load_weights(folder / "e000-s0000008-step.ckpt")  # a bare file, as weights=PATH
    # whatever the trusted prefixes say: the standard library is never trusted beyond its
    # plain types, and torch's loader would run os.system if it were
    for trusted in (["posix."], ["os.", "posix", "builtins."], [""]):
        with pytest.raises(CheckpointError, match="nothing trusts"):
            load_checkpoint(meta_path, trusted)
    assert not marker.exists()


def test_latest_falls_back_to_the_newest_valid_checkpoint(job_dir):
    folder = job_dir / "checkpoints"
    newer = write_checkpoint(folder, "e000-s0000006-step", _lightning(torch.nn.Linear(3, 2)), 6)
    assert find_latest(folder) == newer
    (folder / "e000-s0000006-step.ckpt").write_bytes(b"torn")  # latest.json names a bad one
    assert find_latest(folder) == meta_of(job_dir)
    (folder / ".tmp-e000-s0000008-step.ckpt").write_bytes(b"half a write")  # ignored
    (folder / "latest.json").unlink()
    assert find_latest(folder) == meta_of(job_dir)


def test_weights_load_strictly_and_list_the_keys_that_do_not_fit(job_dir):
    state = load_weights(meta_of(job_dir))  # a trn checkpoint: "model." prefix removed
    model = torch.nn.Linear(3, 2)
    apply_weights(model, state, "w.meta.json")
    assert torch.equal(model.weight, state["weight"])
    other = torch.nn.Sequential(torch.nn.Linear(3, 2))
    with pytest.raises(CheckpointError, match=r"missing keys \[0.bias, 0.weight\], unexpected"):
        apply_weights(other, state, "w.meta.json")
    with pytest.raises(CheckpointError, match="does not fit the model: .*size mismatch"):
        apply_weights(torch.nn.Linear(4, 2), state, "w.meta.json")


def test_plain_state_dict_file_as_weights(tmp_path):
    path = tmp_path / "init.pt"
    torch.save(torch.nn.Linear(3, 2).state_dict(), path)
    assert set(load_weights(path)) == {"weight", "bias"}
    with pytest.raises(NotFound):
        load_weights(tmp_path / "missing.pt")


@pytest.mark.parametrize("content", [b"root:x:0:0:root:/root:/bin/bash\n", b"\x80\x02", b""])
def test_a_foreign_file_as_weights_is_refused_by_name(tmp_path, content):
    """torch's weights_only unpickler raises whatever a foreign file trips (IndexError on a
    text file); the scan before it judges each case as one CheckpointError naming the file."""
    path = tmp_path / "foreign.pt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=r"foreign.pt: (not a PyTorch checkpoint|trunc)"):
        load_weights(path)
