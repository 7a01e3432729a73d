"""Every request passes here first: the Host header, the body size, then the bearer token.

Pure ASGI (no BaseHTTPMiddleware) so event streams pass through unbuffered. A wrong or missing
token gets a bare 401: nothing about jobs, tokens or the server. Tokens are compared with
``hmac.compare_digest`` against both configured tokens every time, so timing tells nothing; a
dashboard's session token (:mod:`~trn.serve.session`) is checked by its signature and gets full
access.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from trn.serve.replies import BodyTooLarge, error
from trn.serve.session import Sessions
from trn.serve.settings import Settings

# and everything outside /api/ (the dashboard's files); a sign-in code is its own credential
OPEN = {"/api/v1/health", "/api/v1/session"}
READS = {"GET", "HEAD", "OPTIONS"}
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'",
    ),
]


class Guard:
    def __init__(self, app: ASGIApp, settings: Settings, sessions: Sessions):
        self.app = app
        self.settings = settings
        self.sessions = sessions
        self.full = _digest(settings.token)
        self.read = _digest(settings.read_token) if settings.read_token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = Headers(scope=scope)
        send = _with_security_headers(send)
        host = headers.get("host", "")
        if not self.settings.host_allowed(host):
            message = f"Host {host!r} is not this server; start trn serve with --allowed-host NAME"
            return await error(421, message)(scope, receive, send)
        path, method = scope["path"], scope["method"]
        access = self.access(headers.get("authorization", ""))
        scope.setdefault("state", {})["access"] = access
        if path.startswith("/api/") and path not in OPEN:
            if access is None:
                reply = error(401, "unauthorized")
                reply.headers["www-authenticate"] = "Bearer"
                return await reply(scope, receive, send)
            if access == "read" and method not in READS:
                return await error(403, "this token is read-only")(scope, receive, send)
        if method not in READS:
            length = headers.get("content-length")
            if length and (not length.isdigit() or int(length) > self.settings.max_body):
                reply = error(413, str(BodyTooLarge(self.settings.max_body)))
                return await reply(scope, receive, send)
            receive = _capped(receive, self.settings.max_body)
        await self.app(scope, receive, send)

    def access(self, header: str) -> str | None:
        """``full``, ``read``, or None for no or a wrong token."""
        scheme, _, given = header.partition(" ")
        given = given.strip()
        token = _digest(given)
        full = hmac.compare_digest(token, self.full)
        read = hmac.compare_digest(token, self.read) if self.read else False
        if scheme.lower() != "bearer" or not given:
            return None
        if full or self.sessions.valid(given):
            return "full"
        return "read" if read else None


def _digest(token: str) -> bytes:
    """Equal-length digests: compare_digest then leaks not even the token's length."""
    return hashlib.sha256(token.encode()).digest()


def _capped(receive: Receive, limit: int) -> Receive:
    """A body sent without Content-Length (chunked) is counted as it arrives."""
    seen = 0

    async def capped() -> Message:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise BodyTooLarge(limit)
        return message

    return capped


def _with_security_headers(send: Send) -> Send:
    async def sending(message: Any) -> None:
        if message["type"] == "http.response.start":
            message.setdefault("headers", [])
            message["headers"] = [*message["headers"], *SECURITY_HEADERS]
        await send(message)

    return sending
