"""The runner: ``python -m trn.runner JOB_DIR`` trains the job described by ``JOB_DIR``.

It reads the resolved config from the job dir (never a sweep's ``sys.argv``), so Lightning's DDP
re-launch of this same command starts the other ranks without re-running anything else.
"""
