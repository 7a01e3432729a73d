"""trn: a Hydra-configured experiment framework for PyTorch.

Importing ``trn`` stays light: nothing here imports torch, lightning or hydra.
"""

__version__ = "0.1.0"
