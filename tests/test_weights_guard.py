"""``weights=FILE`` judged at plan time from the file's pickle opcodes, never by running them.

Each bad kind (a pickle carrying code, a torch.save file cut short, a file that is no checkpoint)
goes through the real CLI in its own process: exit 2, one line, no traceback, no job dir, and the
payload's marker file never appears. Good files (a Lightning ``.ckpt`` a real trn job wrote, its
meta, a plain ``torch.save(state_dict)`` in both formats) are still accepted. The scanner's rules
are torch's own: the allowed globals are compared with the installed torch's, and every file is
judged the same by the scanner and by ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import zipfile
from collections import Counter, OrderedDict
from pathlib import Path

import pytest
import torch
from conftest import run_trn
from test_checkpoint import write_checkpoint

import trn
from trn.checkpoints.meta import CheckpointError, check_weights
from trn.checkpoints.scan import Broken, CarriesCode, Foreign, check_torch_file
from trn.checkpoints.torch_rules import ALLOWED_GLOBALS

RUN = ["profile=dev", "devices=cpu", "trainer.max_epochs=1"]


class Payload:
    """Unpickling this runs ``touch MARKER``: what a malicious checkpoint would do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """The final checkpoint meta of a real, short trn job: Lightning's own checkpoint dict."""
    home = tmp_path_factory.mktemp("trained")
    short = [*RUN, "trainer.limit_train_batches=2", "trainer.limit_val_batches=1"]
    done = run_trn("run", *short, env={"TRN_HOME": str(home)})
    assert done.returncode == 0, done.stderr
    (meta,) = home.glob("runs/*/*/*/*/checkpoints/*-end.meta.json")
    return meta


def refused(tmp_path: Path, weights: str, *, flag: bool = False) -> str:
    """Run ``trn run weights=FILE`` (or ``--weights FILE``) for real; assert the refusal."""
    home = tmp_path / "home"
    given = ["--weights", weights] if flag else [f"weights={weights}"]
    done = run_trn("run", *given, *RUN, env={"TRN_HOME": str(home)})
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert not list(home.glob("runs/**/job.json")) and not (home / "runs").exists()
    return done.stderr


def code_pickles(tmp_path: Path, marker: Path) -> dict[str, Path]:
    """The payload as torch.save writes it (zip and legacy) and as plain pickles (2 and 4)."""
    files = {k: tmp_path / f"evil-{k}.pt" for k in ("zip", "legacy", "pickle2", "pickle4")}
    torch.save({"w": torch.ones(2), "x": Payload(marker)}, files["zip"])
    torch.save({"x": Payload(marker)}, files["legacy"], _use_new_zipfile_serialization=False)
    files["pickle2"].write_bytes(pickle.dumps(Payload(marker), protocol=2))  # GLOBAL
    files["pickle4"].write_bytes(pickle.dumps(Payload(marker), protocol=4))  # STACK_GLOBAL
    return files


def test_the_allowed_globals_are_torchs_own():
    from torch._weights_only_unpickler import _get_allowed_globals

    assert ALLOWED_GLOBALS == set(_get_allowed_globals())


def test_the_payloads_are_real(tmp_path):
    """Unpickled the unsafe way, each of these files runs its payload (so the refusals count)."""
    marker = tmp_path / "payload-ran"
    for kind, path in code_pickles(tmp_path, marker).items():
        if kind in ("zip", "legacy"):
            torch.load(path, weights_only=False)
        else:
            pickle.loads(path.read_bytes())
        assert marker.exists(), kind
        marker.unlink()


@pytest.mark.parametrize("kind", ["zip", "legacy", "pickle2", "pickle4"])
def test_a_pickle_carrying_code_is_refused_by_the_cli_and_never_runs(tmp_path, kind):
    marker = tmp_path / "payload-ran"
    path = code_pickles(tmp_path, marker)[kind]
    err = refused(tmp_path, str(path))
    assert f"weights={path}: refused, its pickle asks for posix.system" in err
    assert "could run code" in err and "torch.save(state_dict)" in err
    assert not marker.exists()


def test_no_allow_targets_trusts_the_standard_library(tmp_path):
    """allow_targets widens trust to a project's classes; os.system stays refused whatever it
    says (a checkpoint may name nothing of the standard library but its plain types)."""
    marker = tmp_path / "payload-ran"
    path = code_pickles(tmp_path, marker)["zip"]
    home = tmp_path / "home"
    for trusted in ("allow_targets=[os.,posix.]", "allow_targets=[builtins.,posix.system]"):
        done = run_trn("run", f"weights={path}", *RUN, trusted, env={"TRN_HOME": str(home)})
        assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
        assert "refused, its pickle asks for posix.system, which nothing trusts" in done.stderr
    assert not marker.exists() and not (home / "runs").exists()


def test_the_flag_and_the_api_refuse_it_too(tmp_path, trn_home):
    marker = tmp_path / "payload-ran"
    path = code_pickles(tmp_path, marker)["zip"]
    assert "refused, its pickle asks for posix.system" in refused(tmp_path, str(path), flag=True)
    with pytest.raises(CheckpointError, match="asks for posix.system"):
        trn.submit(["trainer.max_epochs=1"], weights=path, profile="dev", devices="cpu")
    assert not marker.exists() and not (trn_home / "runs").exists()


def test_a_trn_meta_over_a_code_carrying_ckpt_is_refused(tmp_path):
    """The sha in the meta matches (whoever wrote the ckpt wrote the meta): the scan still runs."""
    marker = tmp_path / "payload-ran"
    folder = tmp_path / "elsewhere" / "checkpoints"
    meta = write_checkpoint(folder, "e000-s0000008-step", {"x": Payload(marker)}, 8)
    err = refused(tmp_path, str(meta))
    assert "(e000-s0000008-step.ckpt): refused, its pickle asks for posix.system" in err
    assert not marker.exists()


def test_deciding_does_not_import_torch(tmp_path):
    path = code_pickles(tmp_path, tmp_path / "payload-ran")["zip"]
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "trn", "run", f"weights={path}", *RUN],
        capture_output=True,
        text=True,
        env={**os.environ, "TRN_HOME": str(tmp_path / "home")},
    )
    assert done.returncode == 2 and "posix.system" in done.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert "trn.checkpoints.scan" in imported and not {"torch", "lightning"} & imported


@pytest.mark.slow
def test_a_truncated_archive_is_refused(tmp_path, trained):
    ckpt = trained.with_name(trained.name.replace(".meta.json", ".ckpt"))
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    assert f"weights={cut}: truncated or corrupt zip archive" in refused(tmp_path, str(cut))


def test_a_legacy_file_cut_short_or_a_zip_missing_a_storage_is_refused(tmp_path):
    legacy = tmp_path / "legacy.pt"
    torch.save(torch.nn.Linear(3, 2).state_dict(), legacy, _use_new_zipfile_serialization=False)
    legacy.write_bytes(legacy.read_bytes()[:-5])
    assert "truncated: storage" in refused(tmp_path, str(legacy))
    whole, holed = tmp_path / "whole.pt", tmp_path / "holed.pt"
    torch.save(torch.nn.Linear(3, 2).state_dict(), whole)
    with zipfile.ZipFile(whole) as src, zipfile.ZipFile(holed, "w") as dst:
        for info in src.infolist():
            if not info.filename.endswith("/data/1"):
                dst.writestr(info, src.read(info))
    assert "truncated: storage 1 is missing from the archive" in refused(tmp_path, str(holed))


@pytest.mark.parametrize("kind", ["text", "npz", "pickle", "empty"])
def test_a_file_that_is_not_a_checkpoint_is_refused(tmp_path, kind):
    path = tmp_path / f"not-a-checkpoint.{kind}"
    if kind == "text":
        path.write_text("root:x:0:0:root:/root:/bin/bash\n")
    elif kind == "npz":
        import numpy as np

        with open(path, "wb") as f:
            np.savez(f, x=np.zeros(3))
    elif kind == "pickle":
        path.write_bytes(pickle.dumps({"weight": [1.0, 2.0]}, protocol=2))
    else:
        path.write_bytes(b"")
    err = refused(tmp_path, str(path))
    assert f"weights={path}: not a PyTorch checkpoint" in err and "torch.save" in err


@pytest.mark.slow
def test_real_checkpoints_are_still_accepted(tmp_path, trained):
    ckpt = trained.with_name(trained.name.replace(".meta.json", ".ckpt"))
    state = tmp_path / "state.pt"
    torch.save(torch.nn.Linear(3, 2).state_dict(), state)
    legacy = tmp_path / "legacy.pt"
    torch.save(torch.nn.Linear(3, 2).state_dict(), legacy, _use_new_zipfile_serialization=False)
    for path in (trained, ckpt, state, legacy):
        done = run_trn("run", f"weights={path}", *RUN, "--dry-run", "--json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["weights"] == str(path)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol 4")
def test_the_scanner_and_weights_only_agree(tmp_path):
    """Whatever torch loads with weights_only=True passes; whatever the scanner refuses, torch
    refuses too (the runner's load stays the second guard)."""
    good = tmp_path / "good.pt"
    torch.save(
        {
            "p": torch.nn.Parameter(torch.ones(2)),
            "t": torch.arange(4, dtype=torch.bfloat16).view(2, 2)[1:],
            "o": OrderedDict(a=torch.zeros(1, dtype=torch.int8)),
            "c": Counter("ab"),
            "misc": [{1, 2}, bytearray(b"xy"), b"raw", complex(1, 2), 1.5, None, True, 2**70],
            "opt": torch.optim.SGD([torch.nn.Parameter(torch.ones(1))], lr=0.1).state_dict(),
        },
        good,
    )
    torch.load(good, weights_only=True)
    check_torch_file(good)
    bad = code_pickles(tmp_path, tmp_path / "payload-ran")
    protocol4 = tmp_path / "p4.pt"
    torch.save(torch.nn.Linear(3, 2).state_dict(), protocol4, pickle_protocol=4)
    for path in [*bad.values(), protocol4]:
        with pytest.raises((CarriesCode, Broken, Foreign)):
            check_torch_file(path)
        with pytest.raises(Exception, match="Weights only load failed|magic number"):
            torch.load(path, weights_only=True)
    assert not (tmp_path / "payload-ran").exists()


def test_a_protocol_4_save_names_the_fix(tmp_path):
    path = tmp_path / "p4.pt"
    torch.save(torch.nn.Linear(3, 2).state_dict(), path, pickle_protocol=4)
    with pytest.raises(CheckpointError, match="protocol 4 or later.*pickle_protocol=2"):
        check_weights(str(path))
