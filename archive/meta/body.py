"""Decode an untrusted webhook body into JSON without letting it exhaust the stack."""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 64

# A JSON string token (skipped whole) or one bracket; the unrolled form avoids backtracking.
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


def _text_too_deep(document: str) -> bool:
    """Bracket depth before parsing, so the C JSON parser never recurses deeply.

    The JSON decoder only stops at the interpreter's recursion limit, which a host may
    raise far above what the C stack tolerates.
    """
    if document.count("[") + document.count("{") <= MAX_DEPTH:
        return False
    depth = 0
    for match in _TOKENS.finditer(document):
        lexeme = match.group()
        if lexeme in ("[", "{"):
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif lexeme in ("]", "}"):
            depth -= 1
    return False


def _too_deep(value: Any) -> bool:
    # Iterative, so a hostile document cannot exhaust the stack here or downstream.
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        if isinstance(node, dict):
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)
    return False


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-JSON constant {name}")


def load_body(raw_body: bytes) -> tuple[Any, str | None]:
    if not isinstance(raw_body, bytes | bytearray | memoryview):
        return None, "body is not bytes"
    try:
        document = bytes(raw_body).decode("utf-8")
    except UnicodeDecodeError:
        return None, "body is not valid UTF-8"
    if _text_too_deep(document):
        return None, "body nests too deeply"
    try:
        value = json.loads(document, parse_constant=_reject_constant)
    except RecursionError:
        return None, "body nests too deeply"
    except ValueError:
        return None, "body is not valid JSON"
    if _too_deep(value):
        return None, "body nests too deeply"
    return value, None
