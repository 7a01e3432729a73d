"""``python -m trn.runner JOB_DIR``: train the job whose resolved config lies in ``JOB_DIR``.

Rank 0 writes ``outcome.json`` (state, error, metrics, checkpoint) for the supervisor, which
turns it into the terminal event and the final job record.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import sys
import traceback
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from trn import fsutil
from trn.handoff import BadFile, Launch, Outcome
from trn.jobdir import JobDir
from trn.paths import trn_home

# trn emits its own events and writes its own checkpoints: Lightning's loggers, checkpointing,
# progress bar and summary stay off (tests build their Trainers with the same settings)
QUIET_TRAINER: dict[str, Any] = {
    "logger": False,
    "enable_checkpointing": False,
    "enable_progress_bar": False,
    "enable_model_summary": False,
}
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1)
_early_signals: list[int] = []  # stop signals that arrived before StopOnSignal was installed


def _record_early(signum: int, frame: Any) -> None:
    _early_signals.append(signum)


def _rank() -> int:
    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")))


def load_job(job_dir: Path) -> tuple[dict[str, Any], dict[str, Any], Launch]:
    files = JobDir(job_dir)
    with open(files.config, encoding="utf-8") as f:
        config = yaml.safe_load(f)
    record = json.loads(files.record.read_text())
    launch = Launch.from_json(files.launch.read_bytes(), str(files.launch))
    return config, record, launch


@dataclass
class Run:
    """What every stage of a job's runner works with."""

    job_dir: Path
    config: dict[str, Any]
    record: dict[str, Any]
    launch: Launch
    events: Any  # rank 0's writer, which also feeds the loggers; None on the other ranks
    loggers: list[Any]  # for the Trainer (trn.runner.loggers.build)
    stopper: Any  # StopOnSignal

    def warn(self, message: str, **fields: Any) -> None:
        print(f"trn: warning: {message}", file=sys.stderr)
        if self.events is not None:
            self.events.emit("warning", message=message, **fields)


def train(
    job_dir: Path,
    config: dict[str, Any],
    record: dict[str, Any],
    launch: Launch,
    events: Any,
    loggers: tuple[Any, list[Any]] | None = None,
) -> Outcome:
    """Train and test, or (an eval job) evaluate; the outcome. ``loggers``: the writer that also
    feeds the loggers, and the loggers for the Trainer (:func:`trn.runner.loggers.build`);
    default none."""
    import lightning.pytorch as pl

    from trn.runner import build, determinism
    from trn.runner.callbacks import StopOnSignal

    # What is imported by now (torch, Lightning, trn) lives as long as the process. Frozen, it
    # is left out of the collector's full passes: otherwise the first one, some 20-40 steps into
    # training, walks its 400,000 objects and the step takes 150-200 ms longer. A forked runner's
    # warm parent froze the same before the fork. The job's own objects (data, model, what they
    # open) are made after this, so they stay collectable and exit_process still flushes them.
    gc.freeze()
    stopper = StopOnSignal()  # replaces main()'s early recorder, and hears what it heard
    for signum in _early_signals:
        stopper._handle(signum, None)
    pl.seed_everything(int(config["seed"]), workers=True, verbose=False)
    writer, fed = loggers or (events, [])
    run = Run(job_dir, config, record, launch, writer, fed, stopper)
    determinism.relax_fill()  # before the project's code, which may want the fill back
    determinism.report_nondeterministic(run.warn)
    # Lightning runs the data's prepare_data and setup, once, in its order; trn never calls
    # them. What the model needs of the data comes from a trn dataset's index, checked (shards
    # included) when the job was planned, or from the data module's plain attributes.
    datamodule = build.build_data(config)
    model = build.build_model(config, datamodule)
    module, about = build.trainable(config, model, datamodule)
    if record.get("kind") == "eval":
        return evaluate(run, module, datamodule, about)
    if config.get("weights"):  # initialise the model from a checkpoint, at step 0
        from trn.checkpoints.load import apply_weights, load_weights

        trusted = config.get("allow_targets") or []
        apply_weights(model, load_weights(config["weights"], trusted), config["weights"])
    return fit(run, module, datamodule, about)


def fit(run: Run, module: Any, datamodule: Any, about: dict[str, Any]) -> Outcome:
    """``trainer.fit``, then the test stage on the best checkpoint; the outcome."""
    from trn.config.objective import ranking
    from trn.runner import stages, usercallbacks
    from trn.runner.checkpoint import AtomicCheckpoint, FiniteGuard
    from trn.runner.datainfo import known
    from trn.runner.early_stop import EarlyStop  # a sweep's sweep.early_stop, else None
    from trn.runner.join import JoinWatch, timeout_of
    from trn.runner.metrics import ObjectiveCheck

    config, objective = run.config, ranking(run.config)
    assert objective is not None  # the config schema requires one
    ckpt = AtomicCheckpoint(
        JobDir(run.job_dir).checkpoints,
        job=run.record,
        config=config,
        events=run.events,
        objective=objective,  # shared: the objective check may fall back to another metric
        dataset_fingerprint=known(datamodule, "fingerprint"),
        resume_exact=about["resume_exact"],
        **config["checkpoint"],
    )
    # job_started names the MLflow run: the supervisor keeps it in the record, so a job whose
    # runner dies without a word still has its run ended, and a resume continues it
    runs = {"mlflow_run_id": f.run_id for f in run.loggers if f.run_id}
    metric_events = _event_callback(run, {**about, **runs, "objective": dict(objective)})
    check = ObjectiveCheck(objective, lambda message, now: run.warn(message, objective=now))
    # shared too: a sweep's early stopping compares what the objective check settled on
    pruner = EarlyStop.of(config, run.record, trn_home(), objective)
    # ckpt last: it saves on stop, and after the objective check at an epoch's end
    guard = FiniteGuard(about.get("optimizer_from") == "config")
    join = JoinWatch(run.job_dir, _rank(), _world_size(run.launch), timeout_of(config))
    ours = [join, run.stopper, metric_events, guard, check, *filter(None, [pruner])]
    trainer = _trainer(run, ours + usercallbacks.build(config) + [ckpt])  # the callbacks group
    # the objective itself, not a copy: the objective check may yet fall back to another metric
    start = Outcome("completed", step=0, resume_exact=about["resume_exact"], objective=objective)
    if run.stopper.requested and _world_size(run.launch) == 1:
        # stopped while starting up: nothing trained, nothing to save. Several ranks instead
        # all go on to agree on the stop once they have joined (StopOnSignal.on_train_start):
        # one that left here would leave the others waiting for it.
        return replace(start, **_stopped(run.stopper))
    join.start()  # from here to the rendezvous, a rank that never comes ends the job
    trainer.fit(module, datamodule=datamodule, ckpt_path=_resume_ckpt(config))
    outcome = replace(
        start,
        state=run.stopper.requested or "completed",
        # a signal's (this rank's or another's), else early stopping's or max_time's
        reason=run.stopper.reason or usercallbacks.stop_reason(trainer),
        metrics=metric_events.last_metrics or {},
        step=trainer.global_step,
        checkpoint=str(ckpt.latest_meta) if ckpt.latest_meta else None,
    )
    outcome = _inexact_resume(run, datamodule, outcome)
    if pruner and not run.stopper.requested:
        # early stopping's: the job ends pruned, not tested
        outcome = replace(outcome, **pruner.outcome())
    if outcome.state == "completed" and config.get("test", True):
        if stages.has_test(module, datamodule):
            outcome = replace(outcome, **_test(run, trainer, module, datamodule, ckpt))
            outcome = replace(outcome, metrics={**outcome.metrics, **metric_events.stage_metrics})
    return outcome


def _inexact_resume(run: Run, datamodule: Any, outcome: Outcome) -> Outcome:
    """A trn dataset's resume that could not continue at the next sample (a changed world size,
    batch size, ...): the outcome, and so the record, says it was not exact, and a warning why."""
    inexact = getattr(datamodule, "resume_inexact", None)
    if not inexact:
        return outcome
    run.warn(f"resume not exact: {inexact}")
    return replace(outcome, resume_exact=False)


def _test(run: Run, trainer: Any, module: Any, datamodule: Any, ckpt: Any) -> dict[str, Any]:
    """The test stage after fit: the outcome's changes. A stage that raises or is stopped
    leaves the fit's result and checkpoints as they are."""
    from trn.runner import stages

    try:
        best = stages.best_checkpoint(trainer, ckpt)
        stages.run(trainer, "test", module, datamodule, best)
    except stages.StageStopped:
        return _stopped(run.stopper)
    except Exception as err:  # noqa: BLE001 - the fit stands: the job fails naming the test
        traceback.print_exc()
        return {"state": "failed", "error": f"test stage failed: {stages.first_line(err)}"}
    return {"tested": best}


def evaluate(run: Run, module: Any, datamodule: Any, about: dict[str, Any]) -> Outcome:
    """An eval job: ``trainer.test`` or ``trainer.validate`` on the checkpoint it names."""
    from trn.checkpoints.meta import verify
    from trn.runner import stages

    what = run.record["evaluates"]
    meta, ckpt = verify(what["checkpoint"])
    events = _event_callback(run, {**about, "evaluates": what}, at=(meta["step"], meta["epoch"]))
    trainer = _trainer(run, [run.stopper, events])
    outcome = Outcome("completed", step=meta["step"])
    if run.stopper.requested:
        return replace(outcome, **_stopped(run.stopper))
    try:
        stages.run(trainer, what["stage"], module, datamodule, str(ckpt))
    except stages.StageStopped:
        return replace(outcome, **_stopped(run.stopper))
    return replace(outcome, metrics=events.stage_metrics)


def _event_callback(run: Run, about: dict[str, Any], at: tuple[int, int] | None = None) -> Any:
    from trn.runner.callbacks import EventCallback
    from trn.runner.throughput import ThroughputWatch

    return EventCallback(
        run.events,
        run.config["events"]["metrics_every_n_steps"],
        run.launch.device_ids,
        heartbeat_s=run.config["events"].get("heartbeat_s", 0),
        about=about,
        at=at,
        watch=ThroughputWatch(**run.config["events"].get("slowdown") or {}),
    )


def _trainer(run: Run, callbacks: list[Any]) -> Any:
    """The job's Trainer: its devices, the config's ``trainer``, trn's callbacks and loggers."""
    import lightning.pytorch as pl

    from trn.checkpoints.io import TrnCheckpointIO  # fsync'd saves, verified loads

    trainer = pl.Trainer(
        **run.launch.trainer,
        **run.config["trainer"],
        callbacks=callbacks,
        plugins=[TrnCheckpointIO(run.config.get("allow_targets") or [])],
        **{**QUIET_TRAINER, "logger": run.loggers or False},
        default_root_dir=str(run.job_dir),
    )
    # trn owns SIGTERM/SIGINT/SIGUSR1 (StopOnSignal); Lightning's own handlers would abort the
    # loop with SIGTERMException before the checkpoint is written.
    trainer._signal_connector.register_signal_handlers = lambda: None  # type: ignore[method-assign]
    return trainer


def _world_size(launch: Launch) -> int:
    """How many ranks the job's Trainer runs: its devices (a count or a list) x its nodes."""
    trainer = launch.trainer
    devices = trainer.get("devices", 1)
    per_node = len(devices) if isinstance(devices, list) else devices
    per_node = per_node if isinstance(per_node, int) else 1
    return per_node * int(trainer.get("num_nodes", 1))


def _stopped(stopper: Any) -> dict[str, Any]:
    return {"state": stopper.requested, "reason": stopper.reason}


def _resume_ckpt(config: dict[str, Any]) -> str | None:
    """The ``.ckpt`` of ``resume`` (a meta path set by trn.lifecycle.resume), verified first."""
    if not config.get("resume"):
        return None
    from trn.checkpoints.meta import verify

    return str(verify(config["resume"])[1])


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m trn.runner JOB_DIR", file=sys.stderr)
        return 2
    job_dir = Path(argv[0]).resolve()
    # A file-size limit (RLIMIT_FSIZE) fails the write with EFBIG, reported as a
    # checkpoint error, instead of SIGXFSZ killing the runner without a word.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    # Slurm's warning before a preemption or time limit (--signal=USR2) reaches every process
    # of a Slurm job's step; it is task 0's supervisor's to act on (it stops this runner with
    # SIGTERM, a checkpoint first), so it never ends a runner, on a node or anywhere else.
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    for signum in STOP_SIGNALS:  # before the slow imports: Ctrl-C there is a clean cancel
        signal.signal(signum, _record_early)
    try:
        config, record, launch = load_job(job_dir)
    except BadFile as err:  # the supervisor ends the job failed, with this line in its log tail
        print(f"trn: {err}", file=sys.stderr)
        return 2
    rank = _rank()
    events = None
    if rank == 0:
        from trn.events import sinks as event_sinks
        from trn.events.writer import EventWriter

        events = EventWriter(
            job_dir,
            record["job_id"],
            source="runner",
            attempt=record.get("attempt", 1),
            sweep_id=record.get("sweep_id"),
            # the sinks the config names: events.global, events.file, events.redis
            global_path=event_sinks.global_path(config, trn_home()),
            extra_sinks=event_sinks.from_config(config),
            flush_s=config["events"].get("flush_s", 0.5),
        )
    loggers = None
    try:
        from trn.runner.loggers import build as build_loggers

        loggers = build_loggers(config, job_dir, record, events)
        outcome = train(job_dir, config, record, launch, events, loggers)
    except BaseException as err:  # noqa: BLE001 - report every failure to the supervisor
        from trn.runner.join import name_peers

        outcome = Outcome(
            "failed",
            error=name_peers(f"{type(err).__name__}: {err}".strip()),  # a lost rank's node
            traceback=traceback.format_exc(),
            step=getattr(err, "step", None),  # e.g. the step of a non-finite loss
        )
        traceback.print_exc()
    if loggers is not None and loggers[1]:  # an MLflow run ends as the job did
        outcome = replace(outcome, **loggers[0].end(outcome.state))
    if rank == 0:
        fsutil.atomic_write_bytes(JobDir(job_dir).outcome, outcome.to_json().encode())
    if events:
        events.close()
    return 0 if outcome.state == "completed" else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
