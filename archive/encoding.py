"""Reversible, injective encoding of provider ids into blob-name and Table-key safe text.

Unreserved characters ``[A-Za-z0-9_.-]`` pass through; every other UTF-8 byte becomes
``~XX`` (uppercase hex). The empty string becomes ``~-``, and a trailing ``.`` is escaped,
so an encoded id is never empty, ``.``, ``..``, or dot-terminated (Azure strips those).
Because ``~`` is always followed by two hex digits (or ``-`` for empty), the sequence
``~~`` never occurs inside an encoded id and can join two of them unambiguously.
"""

from __future__ import annotations

import hashlib
import re

_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
_EMPTY = "~-"
_HEX = "0123456789ABCDEF"
# Azure Table keys may be 1 KiB; blob names 1024 chars in total. One segment stays well below.
MAX_SEGMENT = 200
_HASHED_MARK = "~h"
SAFE_PATTERN = re.compile(r"\A[A-Za-z0-9_.~-]+\Z")


def encode_id(value: str) -> str:
    """Encode ``value`` so it is safe as a blob-name segment and as a Table key."""
    if value == "":
        return _EMPTY
    data = value.encode("utf-8", "surrogatepass")
    parts: list[str] = []
    last = len(data) - 1
    for index, byte in enumerate(data):
        if byte in _SAFE and not (byte == 0x2E and index == last):
            parts.append(chr(byte))
        else:
            parts.append(f"~{byte:02X}")
    return "".join(parts)


def decode_id(encoded: str) -> str:
    """Invert :func:`encode_id`; raise ``ValueError`` on anything it could not have produced."""
    if encoded == _EMPTY:
        return ""
    out = bytearray()
    index = 0
    while index < len(encoded):
        char = encoded[index]
        if char == "~":
            pair = encoded[index + 1 : index + 3]
            if len(pair) != 2 or any(c not in _HEX for c in pair):
                raise ValueError(f"malformed escape at position {index}")
            out.append(int(pair, 16))
            index += 3
            continue
        if not char.isascii() or ord(char) not in _SAFE:
            raise ValueError(f"unexpected character at position {index}")
        out.append(ord(char))
        index += 1
    try:
        value = out.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError as exc:
        raise ValueError("escaped bytes are not UTF-8") from exc
    # Only the canonical spelling decodes, so decode is the exact inverse of encode.
    if encode_id(value) != encoded:
        raise ValueError("not a canonical encoding")
    return value


def key_segment(value: str) -> str:
    """Encoded id, shortened with a hash when too long for keys and names.

    Short ids stay reversible with :func:`decode_id`. Ids whose encoding exceeds
    :data:`MAX_SEGMENT` keep a readable prefix followed by ``~h`` and the SHA-256 of the
    value; ``~h`` never occurs in a reversible encoding, so the two forms cannot collide.
    """
    encoded = encode_id(value)
    if len(encoded) <= MAX_SEGMENT:
        return encoded
    prefix = encoded[:120]
    cut = prefix.rfind("~")
    if cut >= len(prefix) - 2:
        prefix = prefix[:cut]
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{prefix}{_HASHED_MARK}{digest}"


def join_segments(*encoded: str) -> str:
    """Join already-encoded segments with ``~~`` (never present inside one)."""
    return "~~".join(encoded)
