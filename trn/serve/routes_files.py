"""What a job dir holds, as JSON for charts and pages: metric series (and those of the attempts
a resumed job continues), progress, config, runner log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from trn import api
from trn.events.reader import parse, read_new, tail_offset
from trn.jobdir import JobDir
from trn.serve.routes_jobs import call, home, whole


def series(path: Path, after: int = 0) -> tuple[dict[str, dict[str, list[list[float]]]], int]:
    """``{metric: {phase: [[step, value], ...]}}`` from the ``metrics`` events with ``seq`` over
    ``after``, and the last ``seq`` read (ask again with ``after`` for only the new points)."""
    out: dict[str, dict[str, list[list[float]]]] = {}
    last = after
    for line in read_new(path, 0)[0]:
        event = parse(line)
        if not event:
            continue
        seq = event.get("seq")
        if isinstance(seq, int):
            if seq <= after:
                continue
            last = max(last, seq)
        if event.get("event") != "metrics":
            continue
        for key, value in (event.get("metrics") or {}).items():
            if isinstance(value, int | float):
                points = out.setdefault(key, {}).setdefault(str(event.get("phase")), [])
                points.append([int(event.get("step") or 0), float(value)])
    return out, last


async def job_metrics(request: Request) -> JSONResponse:
    """Metric series for charts.
    ---
    summary: "A job's metric series for charts: {metric: {phase: [[step, value]]}}"
    parameters:
      - {$ref: '#/components/parameters/job_id'}
      - {name: after, in: query, description: only events with seq above this (the last_seq of a previous answer), schema: {type: integer, minimum: 0}}
    responses:
      200: {description: the series and the last seq read, content: {application/json: {schema: {$ref: '#/components/schemas/Metrics'}}}}
      401: {$ref: '#/components/responses/Unauthorized'}
      404: {$ref: '#/components/responses/NotFound'}
    """
    job = await call(api.job, request.path_params["job_id"], home(request))
    after = whole(request.query_params, "after", 0, 0, 10**12)
    found, last = await call(series, JobDir(job.job_dir).events, after)
    return JSONResponse({"job_id": job.job_id, "metrics": found, "last_seq": last})


async def job_attempts(request: Request) -> JSONResponse:
    """The attempts a resumed job continues, with their metric series.
    ---
    summary: "The attempts a resumed job continues, oldest first, each with its metric series up to the step the next one resumed from ([] for a first attempt)"
    parameters: [{$ref: '#/components/parameters/job_id'}]
    responses:
      200: {description: the earlier attempts, content: {application/json: {schema: {$ref: '#/components/schemas/Attempts'}}}}
      401: {$ref: '#/components/responses/Unauthorized'}
      404: {$ref: '#/components/responses/NotFound'}
    """
    job = await call(api.job, request.path_params["job_id"], home(request))
    return JSONResponse({"job_id": job.job_id, "attempts": await call(earlier_attempts, job)})


def earlier_attempts(job: api.Job) -> list[dict[str, Any]]:
    """The attempts before ``job`` with their series up to the step the next one resumed from."""
    from trn.lifecycle.attempts import chain
    from trn.registry.store import Registry

    out = []
    for attempt in chain(job.view().record, Registry.of_job(job.job_dir))[:-1]:
        found, _ = series(JobDir(attempt.job_dir).events)
        cut = attempt.until_step
        if cut is not None:
            found = {
                metric: {phase: [p for p in points if p[0] <= cut] for phase, points in by.items()}
                for metric, by in found.items()
            }
        out.append({**attempt.to_dict(), "metrics": found})
    return out


async def job_progress(request: Request) -> JSONResponse:
    """How far a job is, and its ETA.
    ---
    summary: "A job's progress: step and epoch of max_steps/max_epochs, the fraction done and an ETA"
    parameters: [{$ref: '#/components/parameters/job_id'}]
    responses:
      200: {description: the progress (nulls where unknown), content: {application/json: {schema: {$ref: '#/components/schemas/Progress'}}}}
      401: {$ref: '#/components/responses/Unauthorized'}
      404: {$ref: '#/components/responses/NotFound'}
    """
    job = await call(api.job, request.path_params["job_id"], home(request))
    now = await call(job.view)
    trackers = request.app.state.progress
    progress = await call(trackers.progress, JobDir(job.job_dir).events)
    return JSONResponse({"job_id": job.job_id, "state": now.state, **progress.to_dict()})


async def job_config(request: Request) -> JSONResponse:
    """The resolved config.
    ---
    summary: The resolved config the job ran (config.yaml in its dir)
    parameters: [{$ref: '#/components/parameters/job_id'}]
    responses:
      200: {description: the config, content: {application/json: {schema: {type: object}}}}
      401: {$ref: '#/components/responses/Unauthorized'}
      404: {$ref: '#/components/responses/NotFound'}
    """
    job = await call(api.job, request.path_params["job_id"], home(request))
    return JSONResponse(await call(_config, JobDir(job.job_dir).config))


def _config(path: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        return {}


async def job_log(request: Request) -> JSONResponse:
    """The runner log's last lines.
    ---
    summary: The last lines of the job's runner log
    parameters:
      - {$ref: '#/components/parameters/job_id'}
      - {name: tail, in: query, description: how many lines (default 100), schema: {type: integer, minimum: 1, maximum: 10000}}
    responses:
      200: {description: the lines, content: {application/json: {schema: {type: object, properties: {lines: {type: array, items: {type: string}}}}}}}
      401: {$ref: '#/components/responses/Unauthorized'}
      404: {$ref: '#/components/responses/NotFound'}
    """
    job = await call(api.job, request.path_params["job_id"], home(request))
    n = whole(request.query_params, "tail", 100, 1, 10000)
    path = JobDir(job.job_dir).runner_log
    lines = await call(lambda: read_new(path, tail_offset(path, n))[0])
    return JSONResponse({"job_id": job.job_id, "lines": lines[-n:]})
