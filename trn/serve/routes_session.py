"""``/api/v1/session``: a one-time sign-in code traded for a dashboard session, and new codes.

How the codes and sessions work, and why there are no cookies: :mod:`trn.serve.session`.
"""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import JSONResponse

from trn.serve.replies import BadRequest, body, error

REFUSED = (
    "this sign-in link was used, has expired or is not this server's; "
    "run `trn serve --link` for a new one, or paste the token"
)


def link_path(code: str) -> str:
    """The dashboard's address with a sign-in code, relative to the server's origin."""
    return f"/#login={code}"


async def create_session(request: Request) -> JSONResponse:
    """Trade a one-time sign-in code for a session token.
    ---
    summary: Trade a one-time sign-in code (from the link trn serve prints) for a session token
    security: []
    requestBody: {$ref: '#/components/requestBodies/SignIn'}
    responses:
      200: {description: "the session: send it as the bearer token", content: {application/json: {schema: {$ref: '#/components/schemas/Session'}}}}
      400: {$ref: '#/components/responses/BadRequest'}
      401: {description: "the code was used, has expired or is not this server's", content: {application/json: {schema: {$ref: '#/components/schemas/Error'}}}}
    """
    data = await body(request, {"code": str})
    code = (data.get("code") or "").strip()
    if not code:
        raise BadRequest("'code' is required: the part after #login= of the link trn serve printed")
    got = request.app.state.sessions.redeem(code)
    if got is None:
        return error(401, REFUSED)
    session, until = got
    return JSONResponse({"session": session, "expires_at": _iso(until), "access": "full"})


async def create_link(request: Request) -> JSONResponse:
    """A new one-time sign-in link.
    ---
    summary: A new one-time sign-in link for a browser (what trn serve --link prints)
    responses:
      201: {description: "the link's path on this server, and how long it is good for", content: {application/json: {schema: {$ref: '#/components/schemas/SignInLink'}}}}
      401: {$ref: '#/components/responses/Unauthorized'}
      403: {$ref: '#/components/responses/ReadOnly'}
    """
    sessions = request.app.state.sessions
    return JSONResponse(
        {"path": link_path(sessions.new_code()), "expires_in_s": sessions.link_ttl_s},
        status_code=201,
    )


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
