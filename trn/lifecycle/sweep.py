"""``trn run -m OVERRIDES``: a Hydra multirun of trn jobs, with sweep events and a summary.

Check every job first (:mod:`trn.lifecycle.expand`), then emit ``sweep_started`` into the global
stream and the sweep dir's ``events.jsonl``, run Hydra's sweeper (basic by default, Optuna, ...)
over ``hydra/launcher=trn`` (or whichever launcher the overrides pick), and end with
``sweep_completed`` and the jobs sorted by ``objective``.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trn import fsutil
from trn.errors import FailedFast, JobFailed
from trn.jobdir import SWEEP_SUMMARY
from trn.launcher.summary import render, summarize
from trn.launcher.task import Point
from trn.lifecycle import expand, notify
from trn.lifecycle.sweep_job import SweepTask
from trn.registry.sweeps import SweepSpace, new_sweep_dir, record_process, sweep_events

CONFIG_NAME = "config"


@dataclass
class SweepResult:
    summary: dict[str, Any]
    exit_code: int


@dataclass
class Attempt:
    """What one run of a sweep launches: every point of a new sweep, or what a resume left
    (:mod:`trn.lifecycle.sweep_resume`)."""

    checked: expand.Checked
    points: list[Point]  # known up front (basic); an Optuna sweep's come as it asks
    number: int = 1  # 1, then one more per `trn resume SWEEP`
    first_num: int = 0  # the first job's number: a resume numbers on
    optuna: Any = None  # a resumed Optuna sweep's unfinished trials (trn.launcher.optuna)


def run_sweep(
    overrides: list[str],
    home: Path,
    *,
    as_json: bool = False,
    config_dir: Path | None = None,
    sweep: tuple[str, Path] | None = None,  # an id and dir made already (a detached sweep)
    fail_fast: bool = False,
    attempt: Attempt | None = None,  # a resume's: what is left to run
) -> SweepResult:
    from trn.config.arguments import open_trainer
    from trn.config.compose import find_project
    from trn.config.project import using

    overrides = open_trainer(overrides)  # Hydra's multirun composes them too: trainer.* as ++
    # Every job process (the trn launcher's, Optuna's, a Slurm task on another node) composes
    # with this sweep's project, whatever its working directory: say it in TRN_CONFIG_DIR.
    with using(find_project(config_dir).config_dir):
        if attempt is None:
            checked = expand.check(overrides, home, config_dir)  # UsageError: nothing started
            attempt = Attempt(checked, first_points(checked))
        return _run_sweep(overrides, home, as_json, config_dir, sweep, fail_fast, attempt)


def first_points(checked: expand.Checked) -> list[Point]:
    """A new sweep's points: each checked job of a basic sweep (none yet for Optuna)."""
    plans = checked.plans_by_overrides()
    return [Point(i, list(job), plans.get(tuple(job))) for i, job in enumerate(checked.jobs or [])]


def _run_sweep(
    overrides: list[str],
    home: Path,
    as_json: bool,
    config_dir: Path | None,
    sweep: tuple[str, Path] | None,
    fail_fast: bool,
    attempt: Attempt,
) -> SweepResult:
    from trn.config.arguments import as_written

    checked = attempt.checked
    sweep_id, sweep_dir = sweep or new_sweep_dir(home)
    if attempt.number == 1:
        write_space(sweep_dir, overrides, checked, config_dir)
    jobs = len(attempt.points) if checked.jobs is not None else None
    record_process(sweep_dir, sweep_id, jobs, attempt=attempt.number)
    events = sweep_events(sweep_dir, sweep_id, home)
    events.emit(
        "sweep_started",
        sweep_dir=str(sweep_dir),
        overrides=as_written(overrides),
        jobs=jobs,
        sweeper=checked.sweeper,
        objective=checked.objective,
        sweep_attempt=attempt.number,
    )
    task = SweepTask(sweep_id, home, config_dir, as_json, list(attempt.points))
    task.first_num, task.fail_fast, task.resume = attempt.first_num, fail_fast, attempt.optuna
    # a resume's Hydra files go to an attempt dir of their own: nothing of a run is overwritten
    hydra_dir = sweep_dir if attempt.number == 1 else sweep_dir / f"attempt-{attempt.number}"
    started, state, error, first_failure = time.monotonic(), "completed", None, None
    old = signal.signal(signal.SIGTERM, _interrupt)  # SIGTERM between batches: cancel too
    try:
        multirun(task, hydra_overrides(overrides, hydra_dir, checked), config_dir)
    except KeyboardInterrupt:
        state = "cancelled"
    except FailedFast as err:  # the first failure cancelled the rest
        state, error, first_failure = "failed", str(err), err.job_id
    except JobFailed:
        pass  # a sweeper that re-raises a failed job's error; the summary shows it
    except Exception as err:  # noqa: BLE001 - the sweep broke, not a job: say so, then end it
        state, error = "failed", f"{type(err).__name__}: {err}"
    finally:
        signal.signal(signal.SIGTERM, old)
    notify_config = checked.plans[0].config.get("notify") if checked.plans else None
    summary = finish(
        events,
        sweep_id,
        home,
        checked.objective,
        state,
        started,
        error,
        notify_config,
        first_failure=first_failure,
        attempt=attempt.number,
    )
    fsutil.atomic_write_json(sweep_dir / SWEEP_SUMMARY, summary)
    return SweepResult(summary, exit_code(summary))


def write_space(
    sweep_dir: Path, overrides: list[str], checked: expand.Checked, config_dir: Path | None
) -> None:
    """``space.json``: what the sweep sweeps and the config it starts from, for a resume to
    compare with (a changed search space or base config is refused unless forced)."""
    from trn.config.compose import find_project

    found = find_project(config_dir).config_dir
    SweepSpace(
        list(overrides), checked.sweeper, checked.jobs, checked.base, str(found) if found else None
    ).write(sweep_dir)


def exit_code(summary: dict[str, Any]) -> int:
    if summary["state"] == "cancelled":
        return 130
    # a pruned job was stopped on purpose: not a failure
    bad = sum(v for k, v in summary["counts"].items() if k not in ("completed", "pruned"))
    return 1 if bad or summary["state"] != "completed" else 0


def finish(
    events: Any,
    sweep_id: str,
    home: Path,
    objective: dict[str, Any],
    state: str,
    started: float,
    error: str | None,
    notify_config: dict[str, Any] | None = None,
    *,
    first_failure: str | None = None,
    attempt: int = 1,
) -> dict[str, Any]:
    from trn.registry.record import view
    from trn.registry.store import Registry

    records = [view(r) for r in Registry(home).list(sweep_id=sweep_id, limit=None)]
    took = time.monotonic() - started
    summary = summarize(sweep_id, records, objective, state, took, first_failure)
    summary["attempt"] = attempt
    if error:
        summary["error"] = error
    line = events.emit(
        "sweep_completed",
        state=state,
        duration_s=summary["duration_s"],
        jobs=len(records),
        counts=summary["counts"],
        best=summary["best"],
        objective=summary["objective"],
        error=error,
    )
    problem = notify.send(notify_config, json.loads(line))
    if problem:
        events.emit("warning", message=problem)
    events.close()
    return summary


def hydra_overrides(overrides: list[str], sweep_dir: Path, checked: expand.Checked) -> list[str]:
    """The user's overrides plus where the sweep lives, quiet Hydra logs (stdout is ours) and
    trn's sweeper: the points planned (a basic sweep), or trn's Optuna loop."""
    ours = {"basic": "trn", "optuna": "trn_optuna"}.get(checked.sweeper)
    if ours:  # trn's own: the user's `hydra/sweeper=basic|optuna` names it
        overrides = [o for o in overrides if not o.startswith("hydra/sweeper=")]
        overrides.append(f"hydra/sweeper={ours}")
    given = {o.split("=", 1)[0] for o in overrides}
    extra = {
        "hydra.sweep.dir": f"hydra.sweep.dir='{sweep_dir}'",
        "hydra.sweep.subdir": "hydra.sweep.subdir=${hydra.job.num}",
        "hydra/hydra_logging": "hydra/hydra_logging=disabled",
        "hydra/job_logging": "hydra/job_logging=disabled",
    }
    if checked.sweeper == "optuna":  # maximise what `objective` says is better
        mode = "maximize" if checked.objective.get("mode", "max") == "max" else "minimize"
        extra["hydra.sweeper.direction"] = f"hydra.sweeper.direction={mode}"
    return list(overrides) + [v for k, v in extra.items() if k not in given]


def multirun(task: SweepTask, overrides: list[str], config_dir: Path | None) -> Any:
    from hydra.core.global_hydra import GlobalHydra

    from trn.config.compose import find_project, hydra_session

    # the search path of every single run: the project's config dir first, then trn's conf/
    with hydra_session(find_project(config_dir)):
        hydra = GlobalHydra.instance().hydra
        assert hydra is not None
        return hydra.multirun(config_name=CONFIG_NAME, task_function=task, overrides=overrides)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def print_summary(summary: dict[str, Any], as_json: bool) -> None:
    from trn import text as output

    if as_json:
        output.print_json(summary)
        return
    print(render(summary))
    if summary.get("error"):
        print(f"trn run: error: {summary['error']}", file=sys.stderr)
