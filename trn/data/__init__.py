"""trn datasets: a directory of NumPy shards described by ``index.json``.

Importing this package stays light (no torch): ``index``, ``verify``, ``build`` and ``synth`` need
only NumPy; ``dataset``, ``sampler`` and ``datamodule`` import torch.
"""
