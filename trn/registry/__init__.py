"""Job records: ``job.json`` in each job dir is the truth; ``index.db`` (SQLite) is a fast cache.

Nothing here imports torch, lightning or hydra: ``trn list`` and ``trn status`` read this only.
"""
