"""The ASGI app: routes under ``/api/v1/``, the dashboard at ``/``, the OpenAPI document.

``create_app(settings)`` is all ``trn serve`` and the tests need. Layers, outside in: CORS
(only with ``--cors``), :class:`~trn.serve.guard.Guard`, Starlette's router.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.schemas import SchemaGenerator
from starlette.staticfiles import StaticFiles

from trn.errors import TrnError
from trn.serve import routes_events, routes_files, routes_jobs, routes_session, routes_sweeps
from trn.serve.guard import Guard
from trn.serve.openapi import BASE
from trn.serve.progress import Trackers
from trn.serve.replies import BadRequest, on_bad_request, on_trn_error
from trn.serve.session import Sessions
from trn.serve.settings import Settings

STATIC = Path(__file__).resolve().parent / "static"
API = "/api/v1"


async def health(request: Request) -> JSONResponse:
    """Is the server up.
    ---
    summary: "Liveness: {ok: true}, with the version, home and open streams for a token holder"
    security: []
    responses:
      200: {description: up, content: {application/json: {schema: {$ref: '#/components/schemas/Health'}}}}
    """
    from trn import __version__

    answer: dict[str, Any] = {"ok": True}
    if request.scope["state"].get("access"):
        state = request.app.state
        answer.update(
            version=__version__,
            home=str(state.settings.home),
            streams=state.streams.open,
            uptime_s=round(time.monotonic() - state.started, 3),
            access=request.scope["state"]["access"],
        )
    return JSONResponse(answer)


async def openapi(request: Request) -> JSONResponse:
    """This document.
    ---
    summary: This OpenAPI document
    responses:
      200: {description: the OpenAPI 3.1 document, content: {application/json: {schema: {type: object}}}}
      401: {$ref: '#/components/responses/Unauthorized'}
    """
    state = request.app.state
    if state.openapi is None:
        state.openapi = SchemaGenerator(BASE).get_schema(routes=request.app.routes)
    return JSONResponse(state.openapi)


async def dashboard(request: Request) -> FileResponse:
    return FileResponse(STATIC / "index.html", headers={"cache-control": "no-cache"})


def routes() -> list[Route | Mount]:
    j = f"{API}/jobs"
    return [
        Route(f"{API}/health", health, methods=["GET"]),
        Route(f"{API}/openapi.json", openapi, methods=["GET"]),
        Route(f"{API}/session", routes_session.create_session, methods=["POST"]),
        Route(f"{API}/session/link", routes_session.create_link, methods=["POST"]),
        Route(j, routes_jobs.list_jobs, methods=["GET"]),
        Route(j, routes_jobs.create_job, methods=["POST"]),
        Route(j + "/{job_id}", routes_jobs.get_job, methods=["GET"]),
        Route(j + "/{job_id}/cancel", routes_jobs.cancel_job, methods=["POST"]),
        Route(j + "/{job_id}/resume", routes_jobs.resume_job, methods=["POST"]),
        Route(j + "/{job_id}/events", routes_events.job_events, methods=["GET"]),
        Route(j + "/{job_id}/metrics", routes_files.job_metrics, methods=["GET"]),
        Route(j + "/{job_id}/attempts", routes_files.job_attempts, methods=["GET"]),
        Route(j + "/{job_id}/progress", routes_files.job_progress, methods=["GET"]),
        Route(j + "/{job_id}/config", routes_files.job_config, methods=["GET"]),
        Route(j + "/{job_id}/log", routes_files.job_log, methods=["GET"]),
        Route(f"{API}/events", routes_events.all_events, methods=["GET"]),
        Route(f"{API}/sweeps", routes_sweeps.list_sweeps, methods=["GET"]),
        Route(f"{API}/sweeps/{{sweep_id}}", routes_sweeps.get_sweep, methods=["GET"]),
        Route(f"{API}/sweeps/{{sweep_id}}/resume", routes_sweeps.resume_sweep, methods=["POST"]),
        Route("/", dashboard, methods=["GET"], include_in_schema=False),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]


def create_app(settings: Settings) -> Starlette:
    middleware = []
    if settings.cors:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors,
                allow_methods=["GET", "POST"],
                allow_headers=["authorization", "content-type", "last-event-id"],
            )
        )
    sessions = Sessions(settings.token)
    middleware.append(Middleware(Guard, settings=settings, sessions=sessions))
    app = Starlette(
        routes=routes(),
        middleware=middleware,
        exception_handlers={TrnError: on_trn_error, BadRequest: on_bad_request},
    )
    app.state.settings = settings
    app.state.sessions = sessions
    app.state.streams = routes_events.Streams()
    app.state.progress = Trackers()
    app.state.submit_lock = threading.Lock()
    app.state.started = time.monotonic()
    app.state.openapi = None  # made on first request: parsing the docstrings costs ~50 ms
    return app
