"""``trn serve``: the HTTP API and dashboard (:mod:`trn.serve`) on uvicorn, loopback by default."""

from __future__ import annotations

import argparse
import os
import socket
import sys
from typing import Any

from trn.jobdir import HomeDir

EXAMPLES = """examples:
  trn serve                                  http://127.0.0.1:8765/ and a sign-in link to open
  trn serve --link                           a new sign-in link for the server on 127.0.0.1:8765
  TRN_SERVE_TOKEN=... trn serve --port 9000  your own token (16+ characters)
  trn serve --host 0.0.0.0 --allow-remote --allowed-host trn.lab.example   behind a TLS proxy
  curl -H "Authorization: Bearer $(cat outputs/serve.token)" localhost:8765/api/v1/jobs

A sign-in link works once, within 10 minutes; the browser then holds a session (24 h) and never
the token. Every endpoint but /api/v1/health needs the token or a session; TRN_SERVE_READ_TOKEN
adds a read-only token.
Jobs started here are ordinary detached jobs: they outlive the server. docs/serve.md has the API.
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "serve",
        help="serve the HTTP API and the live dashboard (docs/serve.md)",
        description="Serve /api/v1 (submit, list, follow, cancel, resume jobs) and a dashboard "
        "at /, over $TRN_HOME, with bearer-token authentication.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, help="port (default 8765; 0: any free one)")
    p.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a non-loopback --host (put TLS in front: the token travels in every request)",
    )
    p.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a Host header name to accept besides localhost (repeat; guards DNS rebinding)",
    )
    p.add_argument(
        "--cors",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="let pages from ORIGIN (e.g. https://lab.example) call the API (repeat; off by default)",
    )
    p.add_argument(
        "--max-body", type=int, default=64 * 1024, metavar="BYTES", help="request body cap"
    )
    p.add_argument(
        "--link",
        action="store_true",
        help="print a new one-time sign-in link for the server running on --host/--port, and exit",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from trn.errors import UsageError
    from trn.paths import make_dirs, trn_home
    from trn.serve.settings import Settings, is_loopback, load_token, read_only_token

    if args.link:
        return print_link(args.host, args.port)
    if not is_loopback(args.host) and not args.allow_remote:
        raise UsageError(
            f"--host {args.host} is reachable from other machines; add --allow-remote, and put "
            "TLS in front (a reverse proxy): the token travels with every request"
        )
    home = make_dirs(trn_home(), trn_home())
    token, made = load_token(home)
    settings = Settings(
        home=home,
        token=token,
        read_token=read_only_token(),
        host=args.host,
        port=args.port,
        allowed_hosts={h.lower() for h in args.allowed_host},
        allow_remote=args.allow_remote,
        cors=list(args.cors),
        max_body=args.max_body,
    )
    sock = bind(args.host, args.port)
    app = make_app(settings)
    origin = browsable(args.host, sock.getsockname()[1], args.allowed_host)
    print(f"trn serve: {origin}/  (home {home}; Ctrl-C stops, jobs run on)")
    if made:
        print(f"trn serve: new token, saved in {HomeDir(home).serve_token} (mode 0600): {token}")
    elif not os.environ.get("TRN_SERVE_TOKEN"):
        print(f"trn serve: token in {HomeDir(home).serve_token}")
    if args.allow_remote:
        print("trn serve: listening beyond loopback; serve it behind TLS", file=sys.stderr)
    print(f"trn serve: sign in: {origin}{new_link(app)}  (once, within 10 minutes)")
    sys.stdout.flush()
    serve(app, sock)
    return 0


def browsable(host: str, port: int, allowed: list[str] | None = None) -> str:
    """The origin a browser on this machine (or, with a wildcard address, elsewhere) opens."""
    if host in ("0.0.0.0", "::", ""):
        host = allowed[0] if allowed else socket.gethostname()
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def make_app(settings: Any) -> Any:
    from trn.serve.app import create_app

    return create_app(settings)


def new_link(app: Any) -> str:
    from trn.serve.routes_session import link_path

    return str(link_path(app.state.sessions.new_code()))


def print_link(host: str, port: int) -> int:
    """Ask the running server for a new sign-in link, with this home's token."""
    import json
    import urllib.error
    import urllib.request

    from trn.errors import NotFound, UsageError
    from trn.paths import trn_home
    from trn.serve.settings import existing_token

    home = trn_home()
    token = existing_token(home)
    if token is None:
        raise UsageError(
            f"no token in {HomeDir(home).serve_token} nor TRN_SERVE_TOKEN; run --link with the "
            "TRN_HOME (or TRN_SERVE_TOKEN) of the running trn serve"
        )
    local = "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host
    origin = browsable(local, port)
    ask = urllib.request.Request(
        origin + "/api/v1/session/link",
        data=b"{}",
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(ask, timeout=30) as reply:
            path = json.load(reply)["path"]
    except urllib.error.HTTPError as err:
        if err.code == 401:
            raise UsageError(
                f"the trn serve on {origin} has another token than {HomeDir(home).serve_token}; "
                "run --link with its TRN_HOME (or TRN_SERVE_TOKEN)"
            ) from None
        raise UsageError(f"the server on {origin} refused the link ({err.code})") from None
    except (urllib.error.URLError, OSError, ValueError, KeyError) as err:
        reason = getattr(err, "reason", err)
        raise NotFound(
            f"no trn serve answers on {origin} ({reason}); start one, or give its --host/--port"
        ) from None
    print(origin + path)
    return 0


def bind(host: str, port: int) -> socket.socket:
    from trn.errors import UsageError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise UsageError(
            f"cannot listen on {host}:{port} ({err.strerror}); pick another --port or --host"
        ) from None
    return sock


def serve(app: Any, sock: socket.socket) -> None:
    import uvicorn

    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        server_header=False,
        timeout_graceful_shutdown=1,  # open event streams never end by themselves
    )
    uvicorn.Server(config).run(sockets=[sock])
