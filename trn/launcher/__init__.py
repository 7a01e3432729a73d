"""Sweeps: trn's Hydra launchers and what they share.

- :mod:`trn.launcher.pool`      the pool of this machine's device slots (CPU shares or GPUs), leases
- :mod:`trn.launcher.scheduler` work items run as fresh processes on free slots, signals, stagger
- :mod:`trn.launcher.local`     ``hydra/launcher=trn``: Hydra's jobs through the scheduler
- :mod:`trn.launcher.batch`     a batch's sweep configs, and the result of a job that left none
- :mod:`trn.launcher.trn_jobs`  trn jobs of a batch: a fresh process each (``python -m trn.host sweep-job``)
- :mod:`trn.launcher.worker`    a fresh process running one Hydra task function
- :mod:`trn.launcher.task`      the trn task function as the launchers see it (``TrnTask``)

Running one trn job of a sweep (planning, the supervisor, ending it) is :mod:`trn.lifecycle`'s: the
launchers get it through the task (:class:`~trn.launcher.task.TrnTask`). Nothing here imports
torch. Slurm (its request, its queue, its launcher's submit and wait) is one backend package,
:mod:`trn.lifecycle.backends.slurm`, which ``hydra/launcher=slurm`` calls.
"""
