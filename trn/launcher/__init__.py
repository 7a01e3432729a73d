"""Sweeps: trn's Hydra launchers and what they share.

- :mod:`trn.launcher.pool`      the pool of this machine's device slots (CPU shares or GPUs), leases
- :mod:`trn.launcher.scheduler` work items run as fresh processes on free slots, signals, stagger
- :mod:`trn.launcher.local`     ``hydra/launcher=trn``: Hydra's jobs through the scheduler
- :mod:`trn.launcher.batch`     a batch's sweep configs, and the result of a job that left none
- :mod:`trn.launcher.trn_jobs`  trn jobs of a batch: a :mod:`trn.launcher.job` process each
- :mod:`trn.launcher.worker`    a fresh process running one Hydra task function
- :mod:`trn.launcher.job`       a fresh process running one trn job (plan + supervisor)
- :mod:`trn.launcher.sweep`     ``trn run -m``: validate, sweep events, Hydra multirun, summary
- :mod:`trn.launcher.slurm`     ``hydra/launcher=slurm``: each job a Slurm job via submitit

Nothing here imports torch.
"""
