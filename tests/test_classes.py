"""trn.config.classes: a ``_target_`` read from its source, never imported; and the argument
checks built on it (trn.config.arguments). A package written into a temp dir outside the repo
exercises what a project's code does: re-exports, relative imports, aliases, inherited
``__init__``s, a base class trn cannot read."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap

import pytest
from conftest import PATIENCE

from trn.config import classes
from trn.config.arguments import check_node, check_trainer

FILES = {
    "kit/__init__.py": "from .nets import Net as Net\nfrom kit.nets import *\n",
    "kit/nets.py": """
        import lightning.pytorch as pl
        from torch import nn
        from typing import Literal, Optional

        __all__ = ["Net", "Wide"]


        class Base(pl.LightningModule):
            def __init__(self, width: int, mode: Literal["a", "b"] = "a", scale: float = 1.0):
                super().__init__()

            def training_step(self, batch, batch_idx):
                return None


        class Net(Base):
            pass


        class Wide(nn.Module):
            def __init__(self, *, depth: Optional[int] = None, name: "str | None" = None):
                super().__init__()


        class Any(Wide):
            def __init__(self, **kwargs):
                super().__init__()


        Alias = Wide


        def build(hidden: int, flag: bool = False):
            return Wide()
        """,
    "kit/plain.py": """
        from lightning.pytorch import LightningModule


        class NoStep(LightningModule):
            def __init__(self, width: int = 1):
                super().__init__()
        """,
    "kit/opaque.py": """
        from somewhere_not_installed import Mystery


        class Unknown(Mystery):
            pass
        """,
    "kit/lazy.py": "def __getattr__(name):\n    return name\n",
    "kit/made.py": """
        from dataclasses import dataclass


        @dataclass
        class Settings:
            width: int = 3


        class Meta(type):
            pass


        class WithMeta(metaclass=Meta):
            pass
        """,
}


@pytest.fixture
def root(tmp_path):
    for name, text in FILES.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return tmp_path


def test_a_class_is_followed_through_re_exports_and_its_inherited_init(root):
    net = classes.find("kit.Net", root)  # kit/__init__.py re-exports it
    assert net is not None and net.name == "kit.nets.Net" and net.is_class
    assert net.signature is not None and net.signature.names() == ["width", "mode", "scale"]
    assert [p.required for p in net.signature.params] == [True, False, False]
    assert "lightning.pytorch.core.module.LightningModule" in net.ancestors
    assert net.owners["training_step"] == "kit.nets.Base"
    assert classes.is_subclass("kit.Net", classes.LIGHTNING_MODULE, root) is True
    assert classes.is_subclass("kit.nets.Wide", classes.LIGHTNING_MODULE, root) is False
    assert classes.find("kit.nets.Alias", root).name == "kit.nets.Wide"  # NAME = Other
    assert classes.find("kit.Wide", root).name == "kit.nets.Wide"  # through the star import


def test_what_the_source_cannot_tell_is_unknown_not_a_guess(root):
    unknown = classes.find("kit.opaque.Unknown", root)
    assert unknown is not None and unknown.signature is None and not unknown.complete
    assert classes.is_subclass("kit.opaque.Unknown", classes.LIGHTNING_MODULE, root) is None
    assert classes.find("kit.lazy.Anything", root) is None
    assert classes.missing_attribute("kit.lazy.Anything", root) is None  # __getattr__
    assert classes.missing_attribute("kit.nets.Nett", root) == (
        "kit.nets",
        ["Alias", "Any", "Base", "Literal", "Net", "Optional", "Wide", "build", "nn", "pl"],
    )
    assert classes.find("nowhere.at.All", root) is None
    for made in ("kit.made.Settings", "kit.made.WithMeta"):  # an __init__ made, not written
        assert classes.find(made, root).signature is None
        assert node_problems({"_target_": made, "anything": 1}, root) == []


def test_a_function_target_and_keyword_only_arguments(root):
    build = classes.find("kit.nets.build", root)
    assert build is not None and not build.is_class
    assert build.signature.names() == ["hidden", "flag"]
    wide = classes.find("kit.nets.Wide", root).signature
    assert wide.names() == ["depth", "name"] and not wide.takes_any
    assert classes.find("kit.nets.Any", root).signature.takes_any


def node_problems(node: dict, root) -> list[str]:
    return check_node(node, ["model"], root)


def test_arguments_are_checked_against_the_signature(root):
    net = "kit.nets.Net"
    assert node_problems({"_target_": net, "width": 4, "mode": "b", "scale": 2}, root) == []
    assert node_problems({"_target_": net, "width": 4, "scale": 1.5}, root) == []
    assert node_problems({"_target_": net, "width": "4"}, root) == [
        'model.width="4": kit.nets.Net takes width as an integer; give an integer'
    ]
    assert node_problems({"_target_": net, "width": True}, root) == [
        "model.width=true: kit.nets.Net takes width as an integer; give an integer"
    ]
    assert node_problems({"_target_": net, "width": 1, "mode": "c"}, root) == [
        "model.mode=\"c\": kit.nets.Net takes mode as one of 'a', 'b'; give one of 'a', 'b'"
    ]
    assert node_problems({"_target_": net, "widht": 1}, root) == [
        "model.widht: kit.nets.Net takes no argument 'widht' (did you mean width?); remove it "
        "(it takes: width, mode, scale)",
        "model.width is required by kit.nets.Net (it has no default); set model.width=VALUE",
    ]
    assert node_problems({"_target_": net, "_partial_": True}, root) == []  # given later
    wide = "kit.nets.Wide"
    assert node_problems({"_target_": wide, "depth": None, "name": "x"}, root) == []
    assert node_problems({"_target_": wide, "name": 3}, root) == [
        "model.name=3: kit.nets.Wide takes name as a string or null; give a string or null"
    ]
    anything = {"_target_": "kit.nets.Any", "whatever": [1]}
    assert node_problems(anything, root) == []  # **kwargs
    assert node_problems({"_target_": "kit.opaque.Unknown", "x": 1}, root) == []  # not known
    # in_features and num_classes come from the data: never required of a model's config
    assert check_node({"_target_": "trn.models.MLP"}, ["model"], None) == []


def test_the_trainer_is_read_from_the_installed_lightning():
    assert check_trainer({"max_epochs": 3, "log_every_n_steps": 5, "max_time": {"hours": 1}}) == []
    assert check_trainer({"gradient_clip_algorithm": 3}) == [
        "trainer.gradient_clip_algorithm=3: lightning.Trainer takes gradient_clip_algorithm as "
        "a string or null; give a string or null"
    ]
    assert check_trainer({"logger": True})[0].startswith(
        "trainer.logger: trn sets this Trainer argument; use the logger group"
    )


def test_reading_imports_nothing(root):
    probe = (
        "import sys\n"
        "from trn.config import classes\n"
        f"assert classes.is_subclass('kit.Net', classes.LIGHTNING_MODULE, {str(root)!r})\n"
        "assert classes.find('lightning.pytorch.Trainer') is not None\n"
        "assert classes.find('torch.optim.AdamW').signature.names()[:2] == ['params', 'lr']\n"
        "print(sorted(m for m in ('torch', 'lightning', 'kit') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=PATIENCE
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_a_string_annotation_is_read_as_code():
    assert isinstance(classes._annotation(ast.Constant("int | None")), ast.BinOp)
    assert classes._annotation(ast.Constant("not valid (")) is None
