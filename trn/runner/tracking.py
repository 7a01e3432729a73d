"""A job's MLflow run (``logger=mlflow``): started by the runner, or the parent's continued.

One run per job line: a resumed job logs on into its parent's run (the record's
``mlflow_run_id``), at the steps it continues from, so MLflow draws one curve. The run ends as
the job ended: ``completed`` FINISHED, ``failed`` FAILED, ``cancelled`` and ``preempted``
KILLED, set by the runner once it knows; a runner that never got that far (SIGKILL, a crash)
has its run ended by the job's end (:func:`end_run`, called from trn.lifecycle.end), so no run
is left RUNNING.

MLflow over HTTP retries a refused request for minutes by default; a tracker must not hold
training up that long, so unless the user set them, requests here retry twice, briefly.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from trn.text import error_line, public_url

# trn's terminal job state -> MLflow's run status
STATUS = {"completed": "FINISHED", "failed": "FAILED", "cancelled": "KILLED", "preempted": "KILLED"}
HTTP_BOUNDS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}
END_WAIT_S = 20.0  # the most a job's end waits on MLflow (an unreachable server: a warning)


def bound_http() -> None:
    for key, value in HTTP_BOUNDS.items():
        os.environ.setdefault(key, value)


def start(
    options: dict[str, Any], config: dict[str, Any], record: dict[str, Any], tags: dict[str, Any]
) -> tuple[Any, list[str]]:
    """A started Lightning ``MLFlowLogger`` on the job's run, and notes for the job's warnings
    (a parent's run that is gone). Raises what MLflow raises: the caller reports it."""
    from lightning.pytorch.loggers import MLFlowLogger

    bound_http()
    notes: list[str] = []
    uri, parent_run = options["tracking_uri"], record.get("mlflow_run_id")
    experiment = options.get("experiment") or config.get("name") or "trn"
    code = record.get("code") or {}
    # MLflow's own guess is the git repo of the running file (trn's install, not the project)
    tags = {
        **tags,
        "mlflow.source.git.commit": code.get("commit"),
        "mlflow.source.git.branch": code.get("branch"),
    }
    tags = {k: str(v) for k, v in tags.items() if v not in (None, "")}
    if parent_run:
        logger = MLFlowLogger(tracking_uri=uri, run_id=parent_run)
        try:
            client = logger.experiment
            client.update_run(parent_run, status="RUNNING")  # the parent left it KILLED
        except Exception as err:  # noqa: BLE001 - deleted, or another store: a new run
            notes.append(
                f"logger mlflow: the parent's run {parent_run} is not in {public_url(uri)} "
                f"({error_line(err)}); this job logs to a new run"
            )
            parent_run = None
        else:
            from mlflow.entities import RunTag

            # this attempt's job id, attempt and code, over the parent's
            client.log_batch(parent_run, tags=[RunTag(k, v) for k, v in tags.items()])
            return logger, notes
    logger = MLFlowLogger(
        experiment_name=experiment, run_name=record["job_id"], tracking_uri=uri, tags=tags
    )
    logger.experiment  # noqa: B018 - creates the experiment and the run now, not mid-training
    return logger, notes


def new_params(logger: Any, params: dict[str, Any]) -> dict[str, Any]:
    """The params a run does not have yet: MLflow refuses to change a logged one, and a resume
    changes some (``resume``, often ``trainer.max_epochs``); its ``config.yaml`` has them."""
    logged = logger.experiment.get_run(logger.run_id).data.params
    return {k: v for k, v in params.items() if k not in logged}


def end_run(
    tracking_uri: str,
    run_id: str,
    state: str,
    *,
    only_running: bool = True,
    wait_s: float = END_WAIT_S,
) -> str | None:
    """End run ``run_id`` as ``state`` (with ``only_running``: if it is still RUNNING, as its
    runner could not end it); a problem as one line, or None. Never takes longer than
    ``wait_s``: MLflow is called from a daemon thread."""
    result: list[str | None] = []

    def end() -> None:
        try:
            bound_http()
            from mlflow.tracking import MlflowClient

            client = MlflowClient(tracking_uri)
            if not only_running or client.get_run(run_id).info.status == "RUNNING":
                client.set_terminated(run_id, STATUS.get(state, "FAILED"))
            result.append(None)
        except Exception as err:  # noqa: BLE001 - the job's end goes on without it
            result.append(f"logger mlflow: could not end run {run_id}: {error_line(err)}")

    thread = threading.Thread(target=end, name="trn-mlflow-end", daemon=True)
    thread.start()
    thread.join(wait_s)
    if not result:
        return (
            f"logger mlflow: {public_url(tracking_uri)} did not answer within {wait_s:g} s; "
            f"run {run_id} left as it was"
        )
    return result[0]
