"""``/api/v1/sweeps``: the sweeps, newest first; ``/api/v1/sweeps/{id}``: a sweep's jobs, best
first, and what it varies; ``/api/v1/sweeps/{id}/resume``."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from trn import api
from trn.serve.replies import BadRequest, body
from trn.serve.routes_jobs import call, home, whole


async def get_sweep(request: Request) -> JSONResponse:
    """A sweep's summary.
    ---
    summary: A sweep's jobs sorted by its objective (best first), its state and varied overrides
    parameters: [{name: sweep_id, in: path, required: true, schema: {type: string}}]
    responses:
      200: {description: the summary, content: {application/json: {schema: {$ref: '#/components/schemas/Sweep'}}}}
      400: {$ref: '#/components/responses/BadRequest'}
      401: {$ref: '#/components/responses/Unauthorized'}
      404: {$ref: '#/components/responses/NotFound'}
    """
    return JSONResponse(await call(api.sweep, request.path_params["sweep_id"], home(request)))


async def list_sweeps(request: Request) -> JSONResponse:
    """Sweeps, newest first.
    ---
    summary: List sweeps, newest first, each with its state, objective, best job and job counts
    parameters:
      - {name: limit, in: query, description: page size (default 20), schema: {type: integer, minimum: 1, maximum: 1000}}
      - {name: offset, in: query, description: sweeps to skip, schema: {type: integer, minimum: 0}}
    responses:
      200: {description: a page of sweeps, content: {application/json: {schema: {$ref: '#/components/schemas/SweepPage'}}}}
      400: {$ref: '#/components/responses/BadRequest'}
      401: {$ref: '#/components/responses/Unauthorized'}
    """
    q = request.query_params
    unknown = sorted(set(q) - {"limit", "offset"})
    if unknown:
        raise BadRequest(f"unknown query parameter {unknown[0]!r}; known: limit, offset")
    limit, offset = whole(q, "limit", 20, 1, 1000), whole(q, "offset", 0, 0, 10**9)
    found = await call(api.sweeps, limit + 1, offset, home(request))
    more = len(found) > limit
    return JSONResponse(
        {
            "sweeps": found[:limit],
            "offset": offset,
            "limit": limit,
            "next_offset": offset + limit if more else None,
        }
    )


async def resume_sweep(request: Request) -> JSONResponse:
    """Continue a sweep where it stopped, detached: ``trn resume SWEEP --detach``.
    ---
    summary: Resume an interrupted, cancelled or lost sweep (trn resume SWEEP --detach)
    parameters: [{name: sweep_id, in: path, required: true, schema: {type: string}}]
    requestBody: {$ref: '#/components/requestBodies/ResumeSweep'}
    responses:
      202: {description: its next attempt is started, content: {application/json: {schema: {$ref: '#/components/schemas/SweepStarted'}}}}
      400: {$ref: '#/components/responses/BadRequest'}
      401: {$ref: '#/components/responses/Unauthorized'}
      403: {$ref: '#/components/responses/ReadOnly'}
      404: {$ref: '#/components/responses/NotFound'}
      409: {description: nothing left to do, content: {application/json: {schema: {$ref: '#/components/schemas/Error'}}}}
      422: {$ref: '#/components/responses/Invalid'}
    """
    flags = ("retry_failed", "include_pruned", "force", "fail_fast")
    data = await body(request, dict.fromkeys(flags, bool))
    options = {k: bool(data.get(k)) for k in flags}
    sweep_id = request.path_params["sweep_id"]

    def start() -> dict[str, Any]:
        with request.app.state.submit_lock:
            return api.resume_sweep(sweep_id, home=home(request), **options)

    info = await call(start)
    where = f"/api/v1/sweeps/{info['sweep_id']}"
    return JSONResponse(info, status_code=202, headers={"location": where})
