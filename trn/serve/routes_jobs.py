"""``/api/v1/jobs``: list, one record, submit (a job or a sweep), cancel, resume.

Every call goes through :mod:`trn.api`, the functions ``import trn`` and the CLI use, so the
validation, the ``_target_`` allowlist and the job records are theirs. Submits run one at a time
(Hydra's compose state is per process) in a worker thread, so reads never wait behind them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from trn import api
from trn.registry.record import STATES, TERMINAL, JobView
from trn.serve.replies import BadRequest, body, error, string_list

P = ParamSpec("P")
T = TypeVar("T")

NAME_RE = re.compile(r"^[A-Za-z0-9 _.:/+-]{1,100}$")
SUBMIT_FIELDS: dict[str, Any] = {
    "overrides": list,
    "name": str,
    "multirun": bool,
    "kind": str,
    "checkpoint": str,
    "stage": str,
}


async def call(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """``fn(*args, **kwargs)`` on a worker thread: the registry and the lifecycle block."""
    return await run_in_threadpool(fn, *args, **kwargs)


async def locked(request: Request, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args, home=...)`` under the submit lock: everything it starts lands in this
    server's home, whatever ``$TRN_HOME`` the process has."""
    lock, where = request.app.state.submit_lock, home(request)

    def run() -> Any:
        with lock:
            return fn(*args, home=where)

    return await run_in_threadpool(run)


def home(request: Request) -> Any:
    return request.app.state.settings.home


async def list_jobs(request: Request) -> JSONResponse:
    """Jobs, newest first: ``trn list``.
    ---
    summary: List jobs, newest first (trn list)
    parameters:
      - {name: state, in: query, schema: {type: string, enum: [submitted, running, completed, failed, cancelled, preempted, pruned, lost]}}
      - {name: sweep, in: query, description: only the jobs of this sweep, schema: {type: string}}
      - {name: kind, in: query, description: only training jobs or only eval jobs, schema: {type: string, enum: [train, eval]}}
      - {name: limit, in: query, description: page size (default 20), schema: {type: integer, minimum: 1, maximum: 1000}}
      - {name: offset, in: query, description: jobs to skip, schema: {type: integer, minimum: 0}}
    responses:
      200: {description: a page of job records, content: {application/json: {schema: {$ref: '#/components/schemas/JobPage'}}}}
      400: {$ref: '#/components/responses/BadRequest'}
      401: {$ref: '#/components/responses/Unauthorized'}
    """
    q = request.query_params
    unknown = sorted(set(q) - {"state", "sweep", "limit", "offset", "kind"})
    if unknown:
        raise BadRequest(
            f"unknown query parameter {unknown[0]!r}; known: state, sweep, limit, offset, kind"
        )
    state, sweep, kind = q.get("state") or None, q.get("sweep") or None, q.get("kind") or None
    if kind not in (None, "train", "eval"):
        raise BadRequest(f"kind={kind!r}: use train or eval")
    if state is not None and state not in STATES:
        raise BadRequest(f"state={state!r} is not a job state; use one of {', '.join(STATES)}")
    limit, offset = whole(q, "limit", 20, 1, 1000), whole(q, "offset", 0, 0, 10**9)
    records = await call(api.jobs, state, sweep, offset + limit + 1, home(request), kind)
    page = records[offset : offset + limit]
    more = len(records) > offset + limit
    return JSONResponse(
        {
            "jobs": page,
            "offset": offset,
            "limit": limit,
            "next_offset": offset + limit if more else None,
        }
    )


def whole(query: Any, key: str, default: int, low: int, high: int) -> int:
    text = query.get(key)
    if text is None or text == "":
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise BadRequest(f"{key}={text!r}: expected a whole number from {low} to {high}")
    return int(text)


async def get_job(request: Request) -> JSONResponse:
    """One job's record: ``trn status``.
    ---
    summary: One job's record (trn status); a unique id prefix works
    parameters: [{$ref: '#/components/parameters/job_id'}]
    responses:
      200: {description: the job record, content: {application/json: {schema: {$ref: '#/components/schemas/Job'}}}}
      400: {$ref: '#/components/responses/BadRequest'}
      401: {$ref: '#/components/responses/Unauthorized'}
      404: {$ref: '#/components/responses/NotFound'}
    """
    job = await call(api.job, request.path_params["job_id"], home(request))
    return JSONResponse((await call(job.view)).to_dict())


async def create_job(request: Request) -> JSONResponse:
    """Validate, record and start a job (or a sweep) detached: ``trn run --detach [-m]``; with
    ``kind: eval``, an eval job of ``checkpoint``: ``trn eval --detach``.
    ---
    summary: Start a job, with multirun a sweep, or with kind eval an eval job, detached (trn run --detach [-m], trn eval --detach)
    requestBody: {$ref: '#/components/requestBodies/Submit'}
    responses:
      201: {description: the job is recorded and started; its record, headers: {Location: {schema: {type: string}}}, content: {application/json: {schema: {$ref: '#/components/schemas/Job'}}}}
      202: {description: the sweep is checked and started, content: {application/json: {schema: {$ref: '#/components/schemas/SweepStarted'}}}}
      400: {$ref: '#/components/responses/BadRequest'}
      401: {$ref: '#/components/responses/Unauthorized'}
      403: {$ref: '#/components/responses/ReadOnly'}
      413: {$ref: '#/components/responses/TooLarge'}
      422: {$ref: '#/components/responses/Invalid'}
    """
    data = await body(request, SUBMIT_FIELDS)
    overrides = string_list(data, "overrides")
    refuse_trust(overrides)
    if data.get("name") is not None:
        overrides.append(name_override(data["name"], overrides))
    if eval_request(data):
        evaluate = functools.partial(api.evaluate, stage=data["stage"])
        job = await locked(request, evaluate, data["checkpoint"], overrides)
        return created(await call(job.view))
    if data.get("multirun"):
        info = await locked(request, api.submit_sweep, overrides)
        where = f"/api/v1/sweeps/{info['sweep_id']}"
        return JSONResponse(info, status_code=202, headers={"location": where})
    job = await locked(request, api.submit, overrides)
    return created(await call(job.view))


def eval_request(data: dict[str, Any]) -> bool:
    """``kind: eval`` (``trn eval``): checked, with its stage filled in; else a training job."""
    kind = data.get("kind") or "train"
    if kind not in ("train", "eval"):
        raise BadRequest(f"kind={kind!r}: use 'train' (the default) or 'eval'")
    if kind == "train":
        for key in ("checkpoint", "stage"):
            if data.get(key) is not None:
                raise BadRequest(f'{key!r} is for an eval job; add "kind": "eval"')
        return False
    if not data.get("checkpoint"):
        raise BadRequest('an eval job needs "checkpoint": a job id or a checkpoint\'s .meta.json')
    if data.get("multirun"):
        raise BadRequest("an eval job is one job; drop multirun")
    data["stage"] = data.get("stage") or "test"
    if data["stage"] not in ("test", "validate"):
        raise BadRequest(f"stage={data['stage']!r}: use 'test' (the default) or 'validate'")
    return True


def created(job: JobView) -> JSONResponse:
    where = f"/api/v1/jobs/{job.record.job_id}"
    return JSONResponse(job.to_dict(), status_code=201, headers={"location": where})


def refuse_trust(overrides: list[str]) -> None:
    """Widening the ``_target_`` allowlist is the machine owner's call, made in a config file
    on the machine; a request that could do it could run any code there."""
    for o in overrides:
        if o.lstrip("+~").split("=", 1)[0].split(".", 1)[0] == "allow_targets":
            raise BadRequest(
                f"{o}: allow_targets cannot be set over HTTP; put it in a config file on the "
                "server (trn run --config FILE) and submit from there",
                422,
            )


def name_override(name: str, overrides: list[str]) -> str:
    if not NAME_RE.match(name):
        raise BadRequest(
            f"name {name!r}: use 1-100 letters, digits, spaces and _ . : / + - (no quotes)", 422
        )
    if any(o.lstrip("+").startswith("name=") for o in overrides):
        raise BadRequest("the name is given twice (field 'name' and override name=...); keep one")
    return f"name='{name}'"


async def cancel_job(request: Request) -> JSONResponse:
    """Ask a job to stop: ``trn cancel --no-wait``.
    ---
    summary: Cancel a job (it checkpoints at the next step and ends cancelled); returns at once
    parameters: [{$ref: '#/components/parameters/job_id'}]
    responses:
      202: {description: cancel requested; the record now, content: {application/json: {schema: {$ref: '#/components/schemas/Job'}}}}
      401: {$ref: '#/components/responses/Unauthorized'}
      403: {$ref: '#/components/responses/ReadOnly'}
      404: {$ref: '#/components/responses/NotFound'}
      409: {description: the job already ended, content: {application/json: {schema: {$ref: '#/components/schemas/Error'}}}}
    """
    job = await call(api.job, request.path_params["job_id"], home(request))
    now = await call(job.view)
    if now.state in TERMINAL:
        message = f"job {job.job_id} already ended ({now.state}); nothing to cancel"
        return error(409, message, state=now.state)
    await call(job.cancel)
    return JSONResponse((await call(job.view)).to_dict(), status_code=202)


async def resume_job(request: Request) -> JSONResponse:
    """A new job continuing this one's newest checkpoint: ``trn resume --detach``.
    ---
    summary: Resume a job from its newest valid checkpoint, as a new job (trn resume --detach)
    parameters: [{$ref: '#/components/parameters/job_id'}]
    requestBody: {$ref: '#/components/requestBodies/Resume'}
    responses:
      201: {description: the new job's record, content: {application/json: {schema: {$ref: '#/components/schemas/Job'}}}}
      401: {$ref: '#/components/responses/Unauthorized'}
      403: {$ref: '#/components/responses/ReadOnly'}
      404: {$ref: '#/components/responses/NotFound'}
      422: {$ref: '#/components/responses/Invalid'}
    """
    data = await body(request, {"overrides": list})
    overrides = string_list(data, "overrides")
    refuse_trust(overrides)
    job = await call(api.job, request.path_params["job_id"], home(request))
    new = await locked(request, api.resume, job.job_id, overrides)
    return created(await call(new.view))
