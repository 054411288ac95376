"""Deterministic JSON: sorted keys, compact separators, no NaN, UTF-8."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> bytes:
    """Canonical bytes of ``value``; raises ``ValueError``/``TypeError`` if not plain JSON.

    Text stays readable UTF-8. A lone surrogate (valid in JSON input, invalid in UTF-8)
    makes the whole document fall back to ASCII escapes, which is still deterministic.
    """
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                          allow_nan=False).encode("ascii")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
