"""The parts of the OpenAPI document that are not in the handlers' docstrings: info, security,
shared parameters, responses, request bodies and schemas. Starlette's SchemaGenerator adds the
paths."""

from __future__ import annotations

from typing import Any

from trn import __version__


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _body(**properties: Any) -> dict[str, Any]:
    """A JSON object body with these fields and no others (the handlers refuse an unknown one)."""
    schema = {"type": "object", "additionalProperties": False, "properties": properties}
    return {"content": {"application/json": {"schema": schema}}}


def _overrides(*example: str) -> dict[str, Any]:
    return {"type": "array", "items": {"type": "string"}, "example": list(example)}


_OBJECT: dict[str, Any] = {"type": "object"}
_NUMBER: dict[str, Any] = {"type": ["number", "null"]}
BASE: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "trn serve",
        "version": __version__,
        "description": "Start, follow and cancel trn jobs over HTTP. Every endpoint but "
        "/api/v1/health and POST /api/v1/session needs `Authorization: Bearer TOKEN` (the "
        "server's token, or a session token from a sign-in link); a read-only token gets 403 "
        "on writes. Errors are {error: one line, the CLI's own}.",
    },
    "security": [{"bearer": []}],
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "parameters": {
            "job_id": {
                "name": "job_id",
                "in": "path",
                "required": True,
                "description": "a job id or a unique prefix of one ([a-z0-9-])",
                "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,63}$"},
            }
        },
        "responses": {
            "BadRequest": _error("malformed request: not JSON, unknown field, wrong type, bad id"),
            "Unauthorized": _error("no or wrong token; nothing else is said"),
            "ReadOnly": _error("a read-only token cannot do this"),
            "NotFound": _error("no such job or sweep"),
            "TooLarge": _error("the body is over the cap (64 KiB by default)"),
            "Invalid": _error("refused by trn's own validation (the CLI's message)"),
        },
        "requestBodies": {
            "Submit": _body(
                overrides=_overrides("profile=dev", "optimizer.lr=1e-3"),
                name={"type": "string", "description": "the job's label (the override name=...)"},
                multirun={
                    "type": "boolean",
                    "description": "a sweep: one job per combination (a=1,2)",
                },
                kind={
                    "type": "string",
                    "enum": ["train", "eval"],
                    "description": "eval: test a checkpoint (trn eval); default train",
                },
                checkpoint={
                    "type": "string",
                    "description": "kind eval: a job id (its best checkpoint) or a .meta.json",
                },
                stage={
                    "type": "string",
                    "enum": ["test", "validate"],
                    "description": "kind eval: trainer.test (default) or trainer.validate",
                },
            ),
            "Resume": _body(overrides=_overrides("trainer.max_epochs=40")),
            "SignIn": _body(
                code={"type": "string", "description": "the part after #login= of the link"}
            ),
            "ResumeSweep": _body(
                **{
                    k: {"type": "boolean", "description": d}
                    for k, d in (
                        ("retry_failed", "run failed points again"),
                        ("include_pruned", "continue pruned trials to the end"),
                        ("force", "accept a changed search space or base config"),
                        ("fail_fast", "the first failure cancels the rest"),
                    )
                }
            ),
        },
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {"type": "string"},
                    "problems": {"type": "array", "items": {"type": "string"}},
                },
            },
            "Job": {
                "type": "object",
                "required": ["job_id", "state", "job_dir", "created_at"],
                "properties": {
                    "job_id": {"type": "string"},
                    "state": {"type": "string"},
                    "name": {"type": ["string", "null"]},
                    "sweep_id": {"type": ["string", "null"]},
                    "overrides": {"type": "array", "items": {"type": "string"}},
                    "metrics": _OBJECT,
                    "devices": {"type": "array", "items": {"type": "string"}},
                    "kind": {"type": "string", "enum": ["train", "eval"]},
                    "evaluates": {"type": ["object", "null"]},
                    "objective": {"type": ["object", "null"]},
                },
            },
            "JobPage": {
                "type": "object",
                "properties": {
                    "jobs": {"type": "array", "items": {"$ref": "#/components/schemas/Job"}},
                    "offset": {"type": "integer"},
                    "limit": {"type": "integer"},
                    "next_offset": {"type": ["integer", "null"]},
                },
            },
            "SweepStarted": {
                "type": "object",
                "properties": {
                    "sweep_id": {"type": "string"},
                    "sweep_dir": {"type": "string"},
                    "jobs": {"type": ["integer", "null"]},
                    "pid": {"type": "integer"},
                    "attempt": {"type": "integer"},
                },
            },
            "Sweep": {
                "type": "object",
                "properties": {
                    "sweep_id": {"type": "string"},
                    "state": {"type": "string"},
                    "objective": _OBJECT,
                    "jobs": {"type": "array", "items": _OBJECT},
                    "best": {"type": ["object", "null"]},
                    "varied": {"type": "array", "items": {"type": "string"}},
                    "counts": {"type": "object", "description": "jobs per state"},
                },
            },
            "SweepPage": {
                "type": "object",
                "properties": {
                    "sweeps": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "sweep_id": {"type": "string"},
                                "state": {"type": "string"},
                                "objective": _OBJECT,
                                "best": {"type": ["object", "null"]},
                                "counts": {"type": "object", "description": "jobs per state"},
                                "jobs": {"type": "integer"},
                                "varied": {"type": "array", "items": {"type": "string"}},
                                "started_at": {"type": ["string", "null"]},
                            },
                        },
                    },
                    "offset": {"type": "integer"},
                    "limit": {"type": "integer"},
                    "next_offset": {"type": ["integer", "null"]},
                },
            },
            "Metrics": {
                "type": "object",
                "properties": {
                    "job_id": {"type": "string"},
                    "metrics": _OBJECT,
                    "last_seq": {"type": "integer"},
                },
            },
            "Attempts": {
                "type": "object",
                "properties": {
                    "job_id": {"type": "string"},
                    "attempts": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "job_id": {"type": "string"},
                                "attempt": {"type": "integer"},
                                "state": {"type": "string"},
                                "until_step": {
                                    "type": ["integer", "null"],
                                    "description": "the step the next attempt resumed from",
                                },
                                "metrics": _OBJECT,
                            },
                        },
                    },
                },
            },
            "Progress": {
                "type": "object",
                "description": "fraction = step / total_steps (Lightning's estimated stepping "
                "batches), else finished epochs / max_epochs; eta_s = units left / this job's "
                "own rate, less the seconds since its newest event",
                "properties": {
                    "job_id": {"type": "string"},
                    "state": {"type": "string"},
                    "step": _NUMBER,
                    "epoch": _NUMBER,
                    "epochs_done": {"type": "integer"},
                    "total_steps": _NUMBER,
                    "max_epochs": _NUMBER,
                    "unit": {"enum": ["steps", "epochs", None]},
                    "done": _NUMBER,
                    "total": _NUMBER,
                    "fraction": _NUMBER,
                    "per_s": _NUMBER,
                    "eta_s": _NUMBER,
                    "updated_at": {"type": ["string", "null"]},
                    "samples_per_s": {
                        **_NUMBER,
                        "description": "the training speed the newest step event measured",
                    },
                    "tokens_per_s": {
                        **_NUMBER,
                        "description": "the same event's tokens per second, where its batches are token ids",
                    },
                },
            },
            "Session": {
                "type": "object",
                "required": ["session", "expires_at"],
                "properties": {
                    "session": {"type": "string", "description": "send as the bearer token"},
                    "expires_at": {"type": "string", "format": "date-time"},
                    "access": {"type": "string"},
                },
            },
            "SignInLink": {
                "type": "object",
                "properties": {
                    "path": {"type": "string", "example": "/#login=CODE"},
                    "expires_in_s": {"type": "number"},
                },
            },
            "Health": {
                "type": "object",
                "required": ["ok"],
                "properties": {"ok": {"type": "boolean"}, "streams": {"type": "integer"}},
            },
        },
    },
}
