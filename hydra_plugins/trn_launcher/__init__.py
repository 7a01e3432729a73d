"""Hydra launcher plugins of trn: ``hydra/launcher=trn`` (local, device-packing) and ``slurm``.

Hydra discovers launchers only under the ``hydra_plugins`` namespace, so this package is a thin
shim: configs and classes here, the logic in :mod:`trn.launcher` and :mod:`trn.lifecycle` (imported
lazily).
"""
