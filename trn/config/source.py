"""The search path Hydra composes with: ``pkg://hydra.conf``, the project's config dir, trn's
bundled ``conf/``, Hydra's plugins, ``structured://``.

Hydra's own ``--config-dir`` and ``hydra.searchpath`` put a directory *after* the application's
configs, so they can add options but never replace one (hydra#2758); trn builds the path itself
with the project first. The project's dir is a :class:`ProjectSource`: files as Hydra's
``file://`` reads them, except ``config`` (trn's primary with the project's ``config.yaml`` laid
over it, :func:`trn.config.searchpath.merge_primary`) and ``_project_`` (that file's values).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra._internal.core_plugins.file_config_source import FileConfigSource
from hydra.plugins.config_source import ConfigLoadError, ConfigResult
from omegaconf import OmegaConf

from trn.config import searchpath
from trn.errors import UsageError
from trn.paths import conf_dir

SCHEME = "trnproject"


class ProjectSource(FileConfigSource):
    @staticmethod
    def scheme() -> str:
        return SCHEME

    def _user_primary(self) -> Path | None:
        path = Path(self.path) / f"{searchpath.PRIMARY}.yaml"
        return path if path.is_file() else None

    def _name(self, config_path: str) -> str:
        return config_path[: -len(".yaml")] if config_path.endswith(".yaml") else config_path

    def is_config(self, config_path: str) -> bool:
        name = self._name(config_path)
        if name in (searchpath.PRIMARY, searchpath.VALUES):
            return self._user_primary() is not None
        return super().is_config(config_path)

    def load_config(self, config_path: str) -> ConfigResult:
        name = self._name(config_path)
        user = self._user_primary()
        if name not in (searchpath.PRIMARY, searchpath.VALUES) or user is None:
            return super().load_config(config_path)
        try:
            trn = searchpath.load_yaml(conf_dir() / f"{searchpath.PRIMARY}.yaml")
            primary, values = searchpath.merge_primary(trn, searchpath.load_yaml(user))
        except UsageError as err:  # Hydra's own error type, so compose() reports it as one line
            raise ConfigLoadError(str(err)) from None
        node = primary if name == searchpath.PRIMARY else values
        return ConfigResult(
            config=OmegaConf.create(node),
            path=f"{self.scheme()}://{self.path}",
            provider=self.provider,
            header={**self._get_header_dict(""), "package": "_global_"},
        )


def search_path(project: Any) -> Any:
    """Hydra's ``ConfigSearchPath`` for ``project`` (a :class:`trn.config.project.Project`)."""
    from hydra._internal.config_search_path_impl import ConfigSearchPathImpl
    from hydra.core.plugins import Plugins
    from hydra.plugins.search_path_plugin import SearchPathPlugin

    Plugins.instance().register(ProjectSource)
    path = ConfigSearchPathImpl()
    path.append("hydra", "pkg://hydra.conf")
    if project.config_dir is not None:
        path.append("project", f"{SCHEME}://{project.config_dir}")
    path.append("main", str(conf_dir()))  # "main": what Hydra calls the application's configs
    for plugin in Plugins.instance().discover(SearchPathPlugin):
        plugin().manipulate_search_path(path)  # type: ignore[attr-defined]
    path.append("schema", "structured://")
    return path
