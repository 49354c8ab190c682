"""The error bodies the API answers with, declared in the OpenAPI document with :func:`responses`.

Every error is JSON with a ``detail``: a sentence, or (422 for a request that does not match the schema) a list
of problems, each naming the input (``loc``) without repeating its value. Queue errors add ``field`` (422) or
``reason`` (403/409).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ErrorMessage(BaseModel):
    """400 (a ``Host`` that is not allowed), 404, 413 (body too large), 429 (rate limited, with ``Retry-After``)."""

    detail: str


class ForbiddenMessage(BaseModel):
    """403: the signed-in person may not do this. ``permission`` names what their role lacks; ``reason`` names the
    rule otherwise (``not_yours`` for someone else's queue entry, ``cross_site`` for another site's page)."""

    detail: str
    permission: str | None = None
    reason: str | None = None


class RefusalMessage(BaseModel):
    """403 or 409: a rule refused; ``reason`` names the queue rule (``not_yours``, ``ended``, ...) when one did."""

    detail: str
    reason: str | None = None


class ValidationProblem(BaseModel):
    """One bad input: where (``["body", "port"]``), why, and the kind of problem."""

    loc: list[str | int]
    msg: str
    type: str


class InvalidMessage(BaseModel):
    """422: the request's values were refused. ``detail`` is a list of problems when the request does not match
    the schema, else a sentence; ``field`` names the queue input concerned."""

    detail: str | list[ValidationProblem]
    field: str | None = None


_DESCRIPTIONS: dict[int, tuple[type[BaseModel], str]] = {
    400: (ErrorMessage, "The Host header names a host that is not in http.allowed_hosts."),
    401: (ErrorMessage, "Not signed in: no, an expired or a revoked session cookie or personal API token."),
    403: (ForbiddenMessage, "The role may not do this (permission), or a rule refused it (reason)."),
    404: (ErrorMessage, "Unknown id."),
    409: (RefusalMessage, "The current state refuses it (a queue rule, an offline printer, an existing id)."),
    413: (ErrorMessage, "The request body is larger than http.max_body_bytes (an upload: than files.max_size)."),
    422: (InvalidMessage, "A value was refused."),
    429: (ErrorMessage, "Too many commands from this user; retry after Retry-After seconds."),
}


def responses(*codes: int, public: bool = False) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI ``responses`` of an operation that may answer ``codes`` besides 400, 413 and 422 (which any
    operation may answer) and, unless it is ``public``, 401 and 403 (every route but a few needs a signed-in person
    whose role allows it)."""
    usual = {400, 413, 422} if public else {400, 401, 403, 413, 422}
    return {
        code: {"model": _DESCRIPTIONS[code][0], "description": _DESCRIPTIONS[code][1]}
        for code in sorted({*usual, *codes})
    }
