"""``hydra/launcher=trn`` passes Hydra's own launcher suites, as Hydra's launcher plugins do."""

from __future__ import annotations

import pytest
from hydra.core.plugins import Plugins
from hydra.plugins.launcher import Launcher
from hydra.test_utils.launcher_common_tests import IntegrationTestSuite, LauncherTestSuite

from hydra_plugins.trn_launcher.slurm_launcher import SlurmLauncher
from hydra_plugins.trn_launcher.trn_launcher import TrnLauncher


def test_trn_leaves_hydra_as_it_found_it(cli) -> None:
    """Composing a config in-process must not leave Hydra's global version_base set: it would
    change the Hydra app of a program that calls trn (and Hydra's own suites below)."""
    from hydra.core.singleton import Singleton
    from hydra.version import VersionBase

    Singleton._instances.pop(VersionBase, None)
    assert cli("run", "profile=dev", "--dry-run")[0] == 0
    assert cli("run", "--cfg", "job")[0] == 0
    assert VersionBase not in Singleton._instances


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
