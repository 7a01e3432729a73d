"""Sweeps: trn's Hydra launchers and what they share.

- :mod:`trn.launcher.slots`   the device slots of this machine (CPU shares or GPUs) and leases
- :mod:`trn.launcher.pool`    the scheduler: fresh processes on free slots, signals, stagger
- :mod:`trn.launcher.local`   ``hydra/launcher=trn``: Hydra's jobs through the pool
- :mod:`trn.launcher.worker`  a fresh process running one Hydra task function
- :mod:`trn.launcher.task`    the trn task function as the launchers see it (``TrnTask``)
- :mod:`trn.launcher.sweep`   ``trn run -m``: validate, sweep events, Hydra multirun, summary
- :mod:`trn.launcher.slurm`   the Slurm request for a job's devices; Slurm's queue

Running one trn job of a sweep (planning, the supervisor, ending it) is :mod:`trn.lifecycle`'s: the
launchers get it through the task (:class:`~trn.launcher.task.TrnTask`). Nothing here imports
torch.
"""
