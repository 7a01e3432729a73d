"""A user's project in a temp dir outside the repo: its own package, config dir and pyproject.

``projnet.models.WideNet`` is a plain ``nn.Module`` trn's classification task trains; every
process that builds it appends ``built rank=N pid=P config_dir=D`` to ``$PROJNET_MARK`` (when
set), so a test can see which processes imported the project's code, and with which
``TRN_CONFIG_DIR``. ``conf/optimizer/adamw.yaml`` replaces
trn's option of the same name (another learning rate).
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = "projnet"
LR = 0.0123  # the project's adamw lr; trn's bundled one is 0.003

MODELS = """
import os

from torch import nn


class WideNet(nn.Module):
    def __init__(self, in_features, num_classes, width=16):
        super().__init__()
        mark = os.environ.get("PROJNET_MARK")
        if mark:
            with open(mark, "a") as f:
                rank, where = os.environ.get("LOCAL_RANK", "0"), os.environ.get("TRN_CONFIG_DIR")
                f.write(f"built rank={rank} pid={os.getpid()} config_dir={where}\\n")
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(in_features, width), nn.ReLU(), nn.Linear(width, num_classes)
        )

    def forward(self, x):
        return self.net(x)
"""


def make_project(root: Path, pyproject: str | None = None) -> Path:
    """The project at ``root``: ``pyproject.toml`` (``[tool.trn]`` unless ``pyproject`` says
    otherwise), ``projnet/``, ``conf/model/wide.yaml``, ``conf/optimizer/adamw.yaml``."""
    (root / PACKAGE).mkdir(parents=True)
    (root / PACKAGE / "__init__.py").write_text("")
    (root / PACKAGE / "models.py").write_text(MODELS)
    conf = root / "conf"
    (conf / "model").mkdir(parents=True)
    (conf / "optimizer").mkdir()
    (conf / "model" / "wide.yaml").write_text(f"_target_: {PACKAGE}.models.WideNet\nwidth: 16\n")
    (conf / "optimizer" / "adamw.yaml").write_text(f"_target_: torch.optim.AdamW\nlr: {LR}\n")
    if pyproject is None:
        pyproject = (
            f'[project]\nname = "{PACKAGE}"\n\n[tool.trn]\nconfig_dir = "conf"\n'
            f'allow_targets = ["{PACKAGE}."]\n'
        )
    (root / "pyproject.toml").write_text(pyproject)
    return root
