"""``/api/v1/sweeps/{id}``: a sweep's jobs, best first, and what it varies."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from trn import api
from trn.serve.routes_jobs import call, home


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
