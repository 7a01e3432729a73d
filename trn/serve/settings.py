"""What one ``trn serve`` process is configured with, and where its tokens come from."""

from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from trn.errors import UsageError
from trn.jobdir import HomeDir

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
MAX_BODY = 64 * 1024  # a POST carries overrides, never data: 64 KiB is generous


@dataclass
class Settings:
    home: Path
    token: str
    read_token: str | None = None
    host: str = "127.0.0.1"
    port: int = 8765
    allowed_hosts: set[str] = field(default_factory=set)  # empty with allow_remote: any Host
    allow_remote: bool = False
    cors: list[str] = field(default_factory=list)
    max_body: int = MAX_BODY
    poll_s: float = 0.2  # how often event streams look for new lines

    def host_allowed(self, host_header: str) -> bool:
        """The Host header names this server (a DNS-rebinding page names its own domain)."""
        name = _hostname(host_header)
        if name in LOOPBACK_NAMES or name in self.allowed_hosts:
            return True
        return self.allow_remote and not self.allowed_hosts


def _hostname(host_header: str) -> str:
    text = host_header.strip().lower()
    if text.startswith("["):  # [::1]:8765
        return text[1:].split("]", 1)[0]
    return text.rsplit(":", 1)[0] if text.count(":") == 1 else text


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def existing_token(home: Path) -> str | None:
    """``TRN_SERVE_TOKEN``, else the token in ``$TRN_HOME/serve.token``; None if neither."""
    given = os.environ.get("TRN_SERVE_TOKEN")
    if given:
        return _checked(given, "TRN_SERVE_TOKEN")
    path = HomeDir(home).serve_token
    try:
        return _checked(path.read_text().strip(), str(path))
    except FileNotFoundError:
        return None


def load_token(home: Path) -> tuple[str, bool]:
    """:func:`existing_token`, else a new one in ``$TRN_HOME/serve.token``, made (mode 0600) on
    the first start. True when it was made just now (print it once)."""
    token = existing_token(home)
    if token is not None:
        return token, False
    path = HomeDir(home).serve_token
    home.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token, True


def read_only_token() -> str | None:
    given = os.environ.get("TRN_SERVE_READ_TOKEN")
    return _checked(given, "TRN_SERVE_READ_TOKEN") if given else None


def _checked(token: str, where: str) -> str:
    if len(token) < 16 or not token.isprintable() or " " in token:
        raise UsageError(
            f"the token in {where} is too weak or malformed (want 16+ printable characters, "
            "no spaces); e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return token
