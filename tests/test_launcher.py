"""``hydra/launcher=trn`` passes Hydra's own launcher suites, as Hydra's launcher plugins do."""

from __future__ import annotations

import pytest
from hydra.core.plugins import Plugins
from hydra.plugins.launcher import Launcher
from hydra.test_utils.launcher_common_tests import IntegrationTestSuite, LauncherTestSuite

from hydra_plugins.trn_launcher.slurm_launcher import SlurmLauncher
from hydra_plugins.trn_launcher.trn_launcher import TrnLauncher


def test_trn_leaves_hydra_as_it_found_it(cli, trn_home) -> None:
    """Composing configs and running a sweep in-process must not leave Hydra's global
    version_base set: it would change the Hydra app of a program that calls trn (and Hydra's
    own suites below, which expect it unspecified)."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra.version import VersionBase

    base = VersionBase.instance().getbase()  # Hydra's "unspecified" in a fresh process
    assert cli("run", "profile=dev", "--dry-run")[0] == 0
    assert cli("run", "--cfg", "job")[0] == 0
    quick = ["trainer.max_epochs=1", "trainer.limit_train_batches=2", "trainer.limit_val_batches=1"]
    assert cli("run", "-m", "profile=dev", "devices=cpu", *quick, "seed=1")[0] == 0  # a sweep
    assert VersionBase.instance().getbase() is base
    assert not GlobalHydra.instance().is_initialized()


def test_discovery() -> None:
    """Hydra finds both launchers through the hydra_plugins namespace."""
    names = [x.__name__ for x in Plugins.instance().discover(Launcher)]
    assert TrnLauncher.__name__ in names
    assert SlurmLauncher.__name__ in names


@pytest.mark.parametrize("launcher_name, overrides", [("trn", ["hydra.launcher.cpu_slots=2"])])
class TestTrnLauncher(LauncherTestSuite):
    pass


@pytest.mark.parametrize(
    "task_launcher_cfg, extra_flags",
    [({}, ["-m", "hydra/launcher=trn", "hydra.launcher.cpu_slots=2"])],
)
class TestTrnLauncherIntegration(IntegrationTestSuite):
    pass
