"""Strict decoding of a Twilio webhook body (``application/x-www-form-urlencoded``).

The body is archived verbatim; this only reads it. Anything Twilio would not send (bytes
outside ASCII, a malformed ``%`` escape, a field without ``=``, escapes that decode to
invalid UTF-8, an absurd number of fields) is a bad encoding: the caller gets a short
problem naming the kind of fault, never the content, and no params.
"""

from __future__ import annotations

import re
import urllib.parse

# Twilio sends a few dozen fields; a body with thousands is not a Twilio webhook, and
# bounding it bounds the work an unparseable body can cause.
MAX_FIELDS = 1000
# "%" must start an escape of exactly two hex digits; urllib.parse keeps "%ZZ" literally.
_BAD_ESCAPE = re.compile(rb"%(?![0-9A-Fa-f]{2})")

Params = dict[str, list[str]]


def decode_form(body: bytes) -> tuple[Params, str | None]:
    """``(params, None)`` with every value of every name in body order, or ``({}, problem)``."""
    data = bytes(body)
    if not data.isascii():
        return {}, "body is not form-encoded: bytes outside ASCII"
    if _BAD_ESCAPE.search(data):
        return {}, "body is not form-encoded: malformed percent escape"
    try:
        params = urllib.parse.parse_qs(
            data.decode("ascii"),
            keep_blank_values=True,
            strict_parsing=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except UnicodeDecodeError:
        return {}, "body is not form-encoded: escapes are not UTF-8"
    except ValueError as exc:
        # "bad query field" (no "=" or an empty field) or too many fields; the message
        # can quote the field, so only the kind of fault is reported.
        kind = "too many fields" if "Max number" in str(exc) else "a field without '='"
        return {}, f"body is not form-encoded: {kind}"
    return params, None


def first(params: Params, name: str) -> str | None:
    """The first value of ``name``, or None when absent (an empty value is returned as '')."""
    values = params.get(name)
    return values[0] if values else None


def present(params: Params, name: str) -> str | None:
    """The first value of ``name`` unless absent or blank."""
    value = first(params, name)
    return value if value is not None and value.strip() else None


def repeated(params: Params) -> list[str]:
    """Names given more than once (Twilio sends each once; the first value is used)."""
    return sorted(name for name, values in params.items() if len(values) > 1)
