"""Sweeps: trn's Hydra launchers and what they share.

- :mod:`trn.launcher.slots`   the device slots of this machine (CPU shares or GPUs) and leases
- :mod:`trn.launcher.pool`    the scheduler: fresh processes on free slots, signals, stagger
- :mod:`trn.launcher.local`   ``hydra/launcher=trn``: Hydra's jobs through the pool
- :mod:`trn.launcher.worker`  a fresh process running one Hydra task function
- :mod:`trn.launcher.job`     a fresh process running one trn job (plan + supervisor)
- :mod:`trn.launcher.sweep`   ``trn run -m``: validate, sweep events, Hydra multirun, summary
- :mod:`trn.launcher.slurm`   ``hydra/launcher=slurm``: each job a Slurm job via submitit

Nothing here imports torch.
"""
