"""A job's life (the lifecycle layer): planned, supervised, detached, cancelled and ended.

- :mod:`trn.lifecycle.plan`        the frozen :class:`~trn.lifecycle.plan.Plan` (JSON across processes)
- :mod:`trn.lifecycle.planning`    ``make_plan``: config + devices + checks -> Plan (``--dry-run``)
- :mod:`trn.lifecycle.resume`      a plan continuing a checkpoint (``trn resume``, ``resume=``)
- :mod:`trn.lifecycle.attempts`    a resumed job's chain of attempts and where each one resumed
- :mod:`trn.lifecycle.supervisor`  create or attach to a job, lease, run, end it: every job's host
- :mod:`trn.lifecycle.end`         ``end_job``: every path that ends a job; the reaper
- :mod:`trn.lifecycle.detach`      detached jobs and sweeps (``python -m trn.host detach-job|detach-sweep``)
- :mod:`trn.lifecycle.cancel`      ``trn cancel`` of jobs and sweeps
- :mod:`trn.lifecycle.backends`    who runs a job's processes, one module or package each: ``local``;
                                    ``slurm`` (its request and queue, the launcher's submit and wait,
                                    the node side); describe, cancel, logs, chosen by the record
- :mod:`trn.lifecycle.sweep`       ``trn run -m``: check every job, sweep events, Hydra multirun, summary
- :mod:`trn.lifecycle.expand`      a sweep's jobs, each planned as `trn run` would
- :mod:`trn.lifecycle.sweep_job`   one trn job of a sweep (``python -m trn.host sweep-job``)

Not ``trn/jobs/``: ``trn.jobs`` is the public API's list of records (``trn.jobs(state=...)``),
which a package of that name would shadow. Nothing here imports torch at module level: the CLI's read verbs use cancel and the backends.
"""
