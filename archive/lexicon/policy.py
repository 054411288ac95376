"""The lexicon policy document (``wa-archive/lexicon@1``): validation, model, canonical form.

Why JSON and not TOML or YAML: YAML needs a third-party parser (the core is stdlib-only)
and its implicit typing (``no`` -> false) is a trap in a compliance file. TOML reads nicely
and ``tomllib`` is stdlib, but it is read-only: the stored version of a policy has to be
canonical bytes the archive can write and re-hash, and the project already has one
canonical JSON form (``archive.canonical``) that records and seals use.

Document::

    {"schema": "wa-archive/lexicon@1", "name": "...", "description": "...",  (optional)
     "exceptions": ["phrase", ...],                                            (optional)
     "rules": [{"id": "...", "pattern": "phrase" | "phrase NEAR/n phrase",
                "description": "...",                                          (optional)
                "scope": {"direction": "inbound|outbound|any",                 (optional)
                          "participants": ["id", ...]},
                "exceptions": ["phrase", ...]}]}                               (optional)

Validation is strict: an unknown key, a wrong type, an empty phrase or a duplicate id is a
``PolicyError`` naming the rule id (or index) and the field. The policy carries no version
number of its own: storage numbers the versions it keeps, by the policy's sha256.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from archive.canonical import canonical_json, sha256_hex
from archive.lexicon.normalize import tokenize

LEXICON_SCHEMA = "wa-archive/lexicon@1"
DIRECTION_SCOPES = ("inbound", "outbound", "any")
MAX_NEAR = 50
RULE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
# The operator is upper case on purpose: "near" in lower case is an ordinary word.
_NEAR = re.compile(r"\bNEAR/(\S*)")

_TOP_KEYS = frozenset({"schema", "name", "description", "exceptions", "rules"})
_RULE_KEYS = frozenset({"id", "pattern", "description", "scope", "exceptions"})
_SCOPE_KEYS = frozenset({"direction", "participants"})


class PolicyError(ValueError):
    """An invalid policy; ``rule`` is the rule id (or ``rules[i]``) and ``field`` the key."""

    def __init__(self, message: str, *, rule: str | None = None, field: str | None = None):
        self.rule = rule
        self.field = field
        where = " ".join(
            part for part in (f"rule {rule!r}:" if rule else "", f"{field}:" if field else "")
            if part
        )
        super().__init__(f"{where} {message}" if where else message)


Phrase = tuple[str, ...]  # normalised token keys


@dataclass(frozen=True)
class Pattern:
    """A phrase, or two phrases with ``NEAR/distance`` (at most ``distance`` tokens between)."""

    first: Phrase
    second: Phrase | None = None
    distance: int = 0

    @property
    def is_near(self) -> bool:
        return self.second is not None


@dataclass(frozen=True)
class Rule:
    id: str
    pattern: Pattern
    source: str  # the pattern as written
    direction: str = "any"
    participants: frozenset[str] = frozenset()
    exceptions: tuple[Phrase, ...] = ()


@dataclass(frozen=True)
class Policy:
    name: str
    rules: tuple[Rule, ...]
    exceptions: tuple[Phrase, ...]
    document: dict[str, Any]  # the validated document, as written

    def canonical_bytes(self) -> bytes:
        """Sorted keys, UTF-8, no whitespace: the bytes storage keeps and hashes."""
        return canonical_json(self.document)

    @property
    def sha256(self) -> str:
        return sha256_hex(self.canonical_bytes())


def participant_key(value: str) -> str:
    """Participants compare without surrounding blanks and a leading ``+`` (E.164 style)."""
    return value.strip().removeprefix("+")


def phrase(text: str, *, rule: str | None, field: str) -> Phrase:
    keys = tuple(token.key for token in tokenize(text))
    if not keys:
        raise PolicyError(f"{text!r} has no words after normalisation", rule=rule, field=field)
    return keys


def parse_pattern(text: str, *, rule: str | None = None, field: str = "pattern") -> Pattern:
    """``phrase`` or ``phrase NEAR/n phrase`` (0 <= n <= 50, one NEAR at most)."""
    found = list(_NEAR.finditer(text))
    if not found:
        return Pattern(phrase(text, rule=rule, field=field))
    if len(found) > 1:
        raise PolicyError("one NEAR/n per pattern at most", rule=rule, field=field)
    (near,) = found
    if not near.group(1).isdigit() or not 0 <= int(near.group(1)) <= MAX_NEAR:
        raise PolicyError(f"NEAR/n needs a whole number n from 0 to {MAX_NEAR}, got "
                          f"{near.group(0)!r}", rule=rule, field=field)
    left, right = text[: near.start()], text[near.end():]
    if not tokenize(left) or not tokenize(right):
        raise PolicyError("NEAR/n needs a phrase on each side", rule=rule, field=field)
    return Pattern(phrase(left, rule=rule, field=field), phrase(right, rule=rule, field=field),
                   int(near.group(1)))


def _unknown_keys(data: dict[str, Any], allowed: frozenset[str], *, rule: str | None,
                  prefix: str = "") -> None:
    extra = sorted(set(data) - allowed)
    if extra:
        raise PolicyError(f"unknown key (allowed: {', '.join(sorted(allowed))})",
                          rule=rule, field=prefix + extra[0])


def _text(data: dict[str, Any], key: str, *, rule: str | None, required: bool = True,
          field: str | None = None) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise PolicyError("must be a non-empty string", rule=rule, field=field or key)
    return value


def _phrases(data: dict[str, Any], *, rule: str | None) -> tuple[Phrase, ...]:
    value = data.get("exceptions", [])
    if not isinstance(value, list):
        raise PolicyError("must be a list of phrases", rule=rule, field="exceptions")
    out = []
    for index, item in enumerate(value):
        field = f"exceptions[{index}]"
        if not isinstance(item, str):
            raise PolicyError("must be a string", rule=rule, field=field)
        if _NEAR.search(item):
            raise PolicyError("an exception is a plain phrase, without NEAR/n",
                              rule=rule, field=field)
        out.append(phrase(item, rule=rule, field=field))
    return tuple(out)


def _scope(data: dict[str, Any], *, rule: str) -> tuple[str, frozenset[str]]:
    scope = data.get("scope", {})
    if not isinstance(scope, dict):
        raise PolicyError("must be an object", rule=rule, field="scope")
    _unknown_keys(scope, _SCOPE_KEYS, rule=rule, prefix="scope.")
    direction = scope.get("direction", "any")
    if direction not in DIRECTION_SCOPES:
        raise PolicyError(f"must be one of {', '.join(DIRECTION_SCOPES)}, got {direction!r}",
                          rule=rule, field="scope.direction")
    participants = scope.get("participants", [])
    if not isinstance(participants, list) or not all(
        isinstance(p, str) and participant_key(p) for p in participants
    ):
        raise PolicyError("must be a list of non-empty participant ids",
                          rule=rule, field="scope.participants")
    return direction, frozenset(participant_key(p) for p in participants)


def _rule(data: object, index: int, seen: set[str]) -> Rule:
    label = f"rules[{index}]"
    if not isinstance(data, dict):
        raise PolicyError("must be an object", rule=label)
    rule_id = data.get("id")
    if not isinstance(rule_id, str) or not RULE_ID.match(rule_id):
        raise PolicyError("must be 1-64 letters, digits, '.', '_' or '-' (starting with a "
                          "letter or digit)", rule=label, field="id")
    if rule_id in seen:
        raise PolicyError("duplicate rule id", rule=rule_id, field="id")
    seen.add(rule_id)
    _unknown_keys(data, _RULE_KEYS, rule=rule_id)
    source = _text(data, "pattern", rule=rule_id)
    assert source is not None
    _text(data, "description", rule=rule_id, required=False)
    direction, participants = _scope(data, rule=rule_id)
    return Rule(rule_id, parse_pattern(source, rule=rule_id), source, direction, participants,
                _phrases(data, rule=rule_id))


def parse_policy(document: object) -> Policy:
    """Validate a decoded policy document; raises ``PolicyError`` on the first problem."""
    if not isinstance(document, dict):
        raise PolicyError("a policy is a JSON object")
    _unknown_keys(document, _TOP_KEYS, rule=None)
    if document.get("schema") != LEXICON_SCHEMA:
        raise PolicyError(f"must be {LEXICON_SCHEMA!r}, got {document.get('schema')!r}",
                          field="schema")
    name = _text(document, "name", rule=None)
    assert name is not None
    _text(document, "description", rule=None, required=False)
    exceptions = _phrases(document, rule=None)
    rules = document.get("rules")
    if not isinstance(rules, list) or not rules:
        raise PolicyError("must be a non-empty list of rules", field="rules")
    seen: set[str] = set()
    parsed = tuple(_rule(item, index, seen) for index, item in enumerate(rules))
    # A private copy through the canonical form: later changes to the caller's dict cannot
    # change the policy's hash, and every valid policy has canonical bytes.
    return Policy(name, parsed, exceptions, json.loads(canonical_json(document)))


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    for key in keys:
        if keys.count(key) > 1:
            raise PolicyError(f"key {key!r} appears twice in one object")
    return dict(pairs)


def _reject_constant(name: str) -> None:
    raise PolicyError(f"{name} is not JSON")


def policy_from_json(data: bytes | str) -> Policy:
    """Decode and validate a policy file's bytes (duplicate keys and NaN are errors)."""
    try:
        document = json.loads(data, object_pairs_hook=_no_duplicate_keys,
                              parse_constant=_reject_constant)
    except PolicyError:
        raise
    except (ValueError, RecursionError) as exc:
        raise PolicyError(f"not valid JSON: {exc}") from None
    return parse_policy(document)
