"""What a checkpoint's pickle may name (trn.checkpoints.trust), judged by the scan before any of
it runs, and loaded with torch's safe globals of exactly that: a module's hyperparameters (its
nn.Module, functools.partials, omegaconf) load with the project's trusted prefixes; the standard
library beyond plain types, a call of a trusted class, or a function never do."""

from __future__ import annotations

import functools
import pickle
import sys
import textwrap

import pytest
import torch
from omegaconf import OmegaConf

from trn.checkpoints import trust
from trn.checkpoints.load import torch_load, torch_reason
from trn.checkpoints.meta import CheckpointError, judge


@pytest.fixture
def mynets(tmp_path, monkeypatch):
    """A project package ``mynets`` with a network class and a plain function."""
    pkg = tmp_path / "src" / "mynets"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(
        textwrap.dedent(
            """
            from torch import nn

            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.body = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))

            def build():
                return Net()

            class Called:
                def __reduce__(self):
                    return (Net, ())
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    yield __import__("mynets")
    sys.modules.pop("mynets", None)


def hparams_checkpoint(path, mynets):
    """What Lightning saves for a module that called save_hyperparameters() with its network
    and the partials of its optimizer and scheduler (and a config)."""
    net = mynets.Net()
    torch.save(
        {
            "state_dict": net.state_dict(),
            "hyper_parameters": {
                "net": net,
                "optimizer": functools.partial(torch.optim.Adam, lr=0.001),
                "scheduler": functools.partial(torch.optim.lr_scheduler.StepLR, step_size=3),
                "cfg": OmegaConf.create({"width": 4, "names": ["a", "b"], "none": None}),
            },
        },
        path,
    )
    return path


@pytest.mark.parametrize(
    "name, trusted, ok, prefix",
    [
        ("mynets.Net", ["mynets."], True, None),
        ("mynets.Net", [], False, "mynets."),
        ("torch.nn.modules.linear.Linear", [], True, None),
        ("lightning.fabric.utilities.data.AttributeDict", [], True, None),
        ("omegaconf.dictconfig.DictConfig", [], True, None),
        ("functools.partial", [], True, None),
        ("builtins.set", [], True, None),
        ("collections.OrderedDict", [], True, None),
        ("posix.system", ["posix.", "os."], False, None),
        ("os.system", ["os."], False, None),
        ("subprocess.Popen", ["subprocess."], False, None),
        ("builtins.eval", ["builtins."], False, None),
        ("functools.reduce", ["functools."], False, None),
        ("numpy.core.multiarray._reconstruct", [], False, "numpy."),
    ],
)
def test_what_a_pickle_may_name(name, trusted, ok, prefix):
    verdict = trust.judge(name, trusted)
    assert (verdict.ok, verdict.prefix) == (ok, prefix)


def test_only_classes_are_trusted_by_a_prefix(mynets):
    assert trust.objects(["mynets.Net", "functools.partial"]) == [functools.partial, mynets.Net]
    with pytest.raises(ValueError, match="mynets.build, a function, not a class"):
        trust.objects(["mynets.build"])
    with pytest.raises(ValueError, match="torch.load, a function"):
        trust.objects(["torch.load"])


def test_a_modules_hyperparameters_load_with_its_trusted_prefix(tmp_path, mynets):
    path = hparams_checkpoint(tmp_path / "hp.ckpt", mynets)
    found = judge(path, "checkpoint", ["mynets."])
    assert "mynets.Net" in found and "functools.partial" in found
    loaded = torch_load(path, ["mynets."])
    assert isinstance(loaded["hyper_parameters"]["net"], mynets.Net)
    assert loaded["hyper_parameters"]["optimizer"].func is torch.optim.Adam
    assert OmegaConf.to_container(loaded["hyper_parameters"]["cfg"])["names"] == ["a", "b"]
    rebuilt = loaded["hyper_parameters"]["net"].state_dict()  # rebuilt from its state
    assert all(torch.equal(rebuilt[k], v) for k, v in loaded["state_dict"].items())


def test_untrusted_it_is_refused_naming_the_class_the_file_and_the_fix(tmp_path, mynets):
    path = hparams_checkpoint(tmp_path / "hp.ckpt", mynets)
    hint = lambda prefix: f'add allow_targets = ["{prefix}"] to the project'  # noqa: E731
    with pytest.raises(CheckpointError) as refused:
        judge(path, f"checkpoint {path}", [], hint)
    assert str(refused.value) == (
        f"checkpoint {path}: its pickle asks for mynets.Net, which is not trusted; if you "
        'trust it, add allow_targets = ["mynets."] to the project'
    )
    with pytest.raises(CheckpointError, match="mynets.Net, which is not trusted"):
        torch_load(path)  # the runner's load judges the same way


def test_a_trusted_class_is_never_called(tmp_path, mynets):
    """A class is rebuilt from its state (NEWOBJ, BUILD); a pickle that calls one (REDUCE) could
    run its __init__ with any arguments: refused."""
    path = tmp_path / "called.ckpt"
    torch.save({"x": mynets.Called()}, path)
    with pytest.raises(CheckpointError, match=r"calls mynets.Net \(REDUCE\)"):
        judge(path, "checkpoint", ["mynets."])


def test_torchs_own_refusal_keeps_its_unsupported_global_line_without_escape_codes(
    tmp_path, mynets
):
    path = hparams_checkpoint(tmp_path / "hp.ckpt", mynets)
    with pytest.raises(pickle.UnpicklingError) as raised:
        torch.load(path, weights_only=True)
    assert "\x1b[" in str(raised.value)  # torch's message has terminal escape codes
    reason = torch_reason(raised.value)
    assert reason.startswith("Unsupported global: GLOBAL mynets.Net was not an allowed global")
    assert "\x1b" not in reason and "\n" not in reason
