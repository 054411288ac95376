"""Small JSON responses shared by the HTTP triggers (no content, no secrets in bodies)."""

from __future__ import annotations

import json
import logging
from typing import Any

import azure.functions as func

log = logging.getLogger("wa_archive.ingest")


def json_response(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        mimetype="application/json",
        headers=headers,
    )


def error(status: int, message: str, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return json_response(status, {"error": message}, headers)


def misconfigured(route: str, exc: Exception) -> func.HttpResponse:
    """A generic 500: the provider retries, and nothing about settings leaks to the caller.

    The log line names the setting (SettingError messages name settings, never values).
    """
    log.error("%s misconfigured: %s", route, exc)
    return error(500, "internal error")


def storage_unavailable() -> func.HttpResponse:
    # 503 + Retry-After: Meta (and well-behaved firm systems) redeliver later.
    return error(503, "archive storage is unavailable; retry later", {"Retry-After": "30"})


def too_large(limit: int) -> func.HttpResponse:
    return error(413, f"request body exceeds {limit} bytes")


def declared_length(req: func.HttpRequest) -> int | None:
    value = req.headers.get("Content-Length")
    return int(value) if value and value.strip().isdigit() else None


def capped_body(req: func.HttpRequest, limit: int) -> bytes | func.HttpResponse:
    """The request body, or a 413 when it (or its declared length) exceeds `limit`.

    The declared length is checked first so an honest client's oversized body is
    refused without being looked at; the actual length covers chunked or lying ones.
    """
    declared = declared_length(req)
    if declared is not None and declared > limit:
        return too_large(limit)
    body = req.get_body()
    if len(body) > limit:
        return too_large(limit)
    return body
