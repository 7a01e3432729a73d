"""Sign-in links and dashboard sessions: a browser gets in without the long-lived token.

``trn serve`` prints ``http://HOST:PORT/#login=CODE``. The code is random, known only to this
server process, good once and for :attr:`Sessions.link_ttl_s` seconds; it sits in the URL's
fragment, which browsers never send to a server, so it reaches no proxy or access log. The page
posts it to ``POST /api/v1/session`` and gets a session token, which it keeps in the tab's
``sessionStorage`` and sends as ``Authorization: Bearer`` like the token itself.

Tokens stay out of cookies, so a page of another site has no credential the browser would add to
its requests: no CSRF, by construction. A session token is ``trns.EXPIRES.NONCE.MAC``, signed with
a key derived from the server's full token, so it survives a restart of the server, ends when it
expires (:attr:`Sessions.session_ttl_s`) and ends everywhere when the token changes; the long
token itself never reaches the browser.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable

LINK_TTL_S = 600.0  # time enough to open the printed link; a later one: trn serve --link
SESSION_TTL_S = 24 * 3600.0  # a working day and the night's runs
PREFIX = "trns"


class Sessions:
    def __init__(
        self,
        token: str,
        link_ttl_s: float = LINK_TTL_S,
        session_ttl_s: float = SESSION_TTL_S,
        clock: Callable[[], float] = time.time,
    ):
        self.key = hmac.new(token.encode(), b"trn serve session key 1", hashlib.sha256).digest()
        self.link_ttl_s, self.session_ttl_s, self.clock = link_ttl_s, session_ttl_s, clock
        self.codes: dict[bytes, float] = {}  # sha256 of each unused code -> when it expires

    def new_code(self) -> str:
        """A sign-in code, good once within ``link_ttl_s``."""
        now = self.clock()
        self.codes = {c: t for c, t in self.codes.items() if t > now}
        code = secrets.token_urlsafe(24)
        self.codes[_digest(code)] = now + self.link_ttl_s
        return code

    def redeem(self, code: str) -> tuple[str, float] | None:
        """A new session token and when it expires, for an unused, unexpired code (which is
        spent now); None for any other code."""
        expires = self.codes.pop(_digest(code), None)
        now = self.clock()
        if expires is None or expires <= now:
            return None
        return self.new_session(now)

    def new_session(self, now: float | None = None) -> tuple[str, float]:
        until = int((self.clock() if now is None else now) + self.session_ttl_s)
        body = f"{PREFIX}.{until:x}.{secrets.token_urlsafe(12)}"
        return f"{body}.{self._mac(body)}", float(until)

    def valid(self, given: str) -> bool:
        """Is ``given`` a session token this server signed that has not expired."""
        body, _, mac = given.rpartition(".")
        parts = body.split(".")
        if len(parts) != 3 or parts[0] != PREFIX:
            return False
        if not hmac.compare_digest(mac.encode(), self._mac(body).encode()):
            return False
        try:
            return int(parts[1], 16) > self.clock()
        except ValueError:
            return False

    def _mac(self, body: str) -> str:
        digest = hmac.new(self.key, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _digest(code: str) -> bytes:
    return hashlib.sha256(code.encode()).digest()
