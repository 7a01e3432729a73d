"""What a job dir holds, as JSON for charts and pages: metric series, config, runner log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from trn import api
from trn.events.reader import parse, read_new, tail_offset
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
    found, last = await call(series, job.job_dir / "events.jsonl", after)
    return JSONResponse({"job_id": job.job_id, "metrics": found, "last_seq": last})


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
    return JSONResponse(await call(_config, job.job_dir / "config.yaml"))


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
    path = job.job_dir / "runner.log"
    lines = await call(lambda: read_new(path, tail_offset(path, n))[0])
    return JSONResponse({"job_id": job.job_id, "lines": lines[-n:]})
