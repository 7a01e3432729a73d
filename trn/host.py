"""``python -m trn.host VERB SPEC``: the one entry point of every process trn starts to host a job.

==================  ========================================  ==================================
verb                SPEC                                      the process
==================  ========================================  ==================================
``detach-job``      a job dir's ``plan.json`` (``Plan``)      a detached job's supervisor
                                                              (``trn run --detach``, ``trn.submit``)
``detach-sweep``    a sweep dir's ``request.json``            a detached sweep (``trn run -m
                    (``SweepRequest``)                        --detach``, ``trn resume SWEEP --detach``)
``sweep-job``       a ``SweepJobSpec``                        one job of a sweep under
                                                              ``hydra/launcher=trn``
==================  ========================================  ==================================

:func:`trn.handoff.job_command` builds every such command line. The spec is read and checked
against its schema before anything else happens: a verb that is not one of these, a spec that is
missing or is not one, is one line on stderr and exit status 2, with nothing written.

The runner (``python -m trn.runner JOB_DIR``), the warm parent (``python -m trn.warm.parent``) and
the Hydra worker (``python -m trn.launcher.worker``) stay entry points of their own: see
docs/architecture.md, "Processes".
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trn.handoff import (
    DETACH_JOB,
    DETACH_SWEEP,
    HOST_MODULE,
    JOB_VERBS,
    SWEEP_JOB,
    BadFile,
    SweepJobSpec,
    SweepRequest,
)
from trn.jobdir import JobDir

USAGE = f"python -m {HOST_MODULE} {'|'.join(JOB_VERBS)} SPEC"


def _plan(path: Path) -> Any:
    """A detached job's plan; its job dir must hold the record the plan's job was given."""
    from trn.lifecycle.plan import Plan

    plan = Plan.from_json(path.read_bytes(), str(path))
    if not JobDir(path.parent).record.is_file():
        raise BadFile(
            f"{path}: no job beside it ({JobDir.RECORD}); {DETACH_JOB} takes a job's plan"
        )
    return plan


def _detach_job(plan: Any, path: Path) -> int:
    from trn.lifecycle.detach import detach_job

    return detach_job(plan, path)


def _detach_sweep(request: SweepRequest, path: Path) -> int:
    from trn.lifecycle.detach import detach_sweep

    return detach_sweep(request, path)


def _sweep_job(spec: SweepJobSpec, path: Path) -> int:
    from trn.lifecycle.sweep_job import run_spec

    return run_spec(spec)


# each verb: how its spec is read (BadFile: not one), and what runs it
VERBS: dict[str, tuple[Callable[[Path], Any], Callable[[Any, Path], int]]] = {
    DETACH_JOB: (_plan, _detach_job),
    DETACH_SWEEP: (lambda p: SweepRequest.from_json(p.read_bytes(), str(p)), _detach_sweep),
    SWEEP_JOB: (lambda p: SweepJobSpec.from_json(p.read_bytes(), str(p)), _sweep_job),
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in VERBS:
        said = f"no such verb {argv[0]!r}" if argv else "no verb"
        print(f"trn: {said}; usage: {USAGE}", file=sys.stderr)
        return 2
    if len(argv) != 2:
        print(f"trn: {argv[0]} takes one spec file; usage: {USAGE}", file=sys.stderr)
        return 2
    verb, path = argv[0], Path(argv[1])
    read, run = VERBS[verb]
    try:
        spec = read(path)
    except OSError as err:  # missing, a directory, unreadable
        print(f"trn: {path}: cannot read the {verb} spec ({err.strerror})", file=sys.stderr)
        return 2
    except BadFile as err:
        print(f"trn: {err}", file=sys.stderr)
        return 2
    return run(spec, path)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
