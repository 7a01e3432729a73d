"""JSON replies, the status code of each trn error, and strict parsing of request bodies."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from trn.errors import ConfigError, JobFailed, NotFound, TrnError, UsageError
from trn.ids import BadJobId

# most specific first: a bad id is a malformed request, a config the CLI refuses is not
STATUS: list[tuple[type[Exception], int]] = [
    (BadJobId, 400),
    (ConfigError, 422),
    (UsageError, 422),
    (NotFound, 404),
    (JobFailed, 500),
    (TrnError, 409),
]


class BadRequest(Exception):
    """The request itself is malformed (not JSON, unknown field, wrong type): 400."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class BodyTooLarge(BadRequest):
    def __init__(self, limit: int):
        super().__init__(f"request body over {limit} bytes; send only overrides", 413)


def error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


async def on_trn_error(request: Request, exc: Exception) -> JSONResponse:
    """The CLI's one line as ``error``; a config error also lists ``problems``."""
    status = next(code for cls, code in STATUS if isinstance(exc, cls))
    extra = {"problems": exc.problems} if isinstance(exc, ConfigError) else {}
    return error(status, str(exc), **extra)


async def on_bad_request(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BadRequest)
    return error(exc.status, str(exc))


async def body(request: Request, fields: dict[str, type | tuple[type, ...]]) -> dict[str, Any]:
    """The JSON object in the body (``{}`` when empty), with only ``fields``, each of its type."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError as err:
        raise BadRequest(f"malformed JSON body: {err}; send an object, e.g. {example()}") from None
    if not isinstance(data, dict):
        raise BadRequest(f"the body must be a JSON object, e.g. {example()}")
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise BadRequest(f"unknown field {unknown[0]!r}; known fields: {', '.join(fields)}")
    for key, kind in fields.items():
        if key in data and data[key] is not None and not isinstance(data[key], kind):
            raise BadRequest(f"{key!r} must be {describe(kind)}, got {json.dumps(data[key])}")
    return data


def string_list(data: dict[str, Any], key: str) -> list[str]:
    value = data.get(key) or []
    if not all(isinstance(v, str) for v in value):
        raise BadRequest(f"{key!r} must be a list of strings, e.g. {example()}")
    return list(value)


def example() -> str:
    return '{"overrides": ["profile=dev", "optimizer.lr=1e-3"]}'


def describe(kind: type | tuple[type, ...]) -> str:
    names = {list: "a list", str: "a string", bool: "true or false", int: "a whole number"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)
