"""Matching a compiled policy against texts and canonical records.

Semantics (docs/supervision.md says the same for compliance officers):

- A phrase matches a run of consecutive tokens with the same keys.
- ``A NEAR/n B`` matches an occurrence of A and one of B, in either order, that do not
  overlap and have at most ``n`` tokens between them: ``NEAR/0`` means adjacent,
  ``guarantee NEAR/3 return`` matches "guarantee you a 10% return" (3 tokens between) and
  not "guarantee you a full 10% return" (4). Every such pair is a hit.
- An exception (a rule's own or the policy-wide list) suppresses a hit when one of its
  occurrences in the same field shares a token with the hit's extent (from its first
  matched token to its last, inclusive). An exception elsewhere in the text does not
  suppress anything: a writer cannot switch a rule off by adding a magic phrase.
- Scope: ``direction`` other than ``any`` must equal the record's direction; a non-empty
  ``participants`` list must contain the record's ``from``, ``to``, business id or
  customer id (compared without blanks and a leading ``+``). With no record (``match``),
  a scope the caller does not give (direction None, no participants) is not checked.

Cost: compiling tokenises every phrase once. Matching one text tokenises it once and
indexes token positions by key; each phrase then looks only at the positions of its first
key, so a text costs O(tokens + rules x occurrences), within O(tokens x rules).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from archive.lexicon.normalize import Token, tokenize
from archive.lexicon.policy import Phrase, Policy, Rule, participant_key
from archive.lexicon.record_fields import text_fields


@dataclass(frozen=True)
class Context:
    """Who and which way: ``direction`` None or no ``participants`` means "not known"."""

    direction: str | None = None
    participants: frozenset[str] = frozenset()

    @classmethod
    def of(cls, direction: str | None, participants: Iterable[str | None]) -> Context:
        return cls(direction, frozenset(participant_key(p) for p in participants if p))


@dataclass(frozen=True)
class Hit:
    rule: str
    field: str  # where in the record ("content.text"); "text" for a bare text
    tokens: tuple[int, int]  # token extent, half-open
    spans: tuple[tuple[int, int], ...]  # character ranges of the matched phrases
    matched: tuple[str, ...]  # the original text of each span

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "field": self.field, "tokens": list(self.tokens),
                "spans": [list(span) for span in self.spans], "matched": list(self.matched)}


class _Text:
    """One tokenised text with its positions indexed by key."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: tuple[Token, ...] = tokenize(text)
        positions: defaultdict[str, list[int]] = defaultdict(list)
        for index, token in enumerate(self.tokens):
            positions[token.key].append(index)
        self.positions = positions

    def find(self, phrase: Phrase) -> list[int]:
        """Start positions of ``phrase``."""
        size = len(phrase)
        return [
            start for start in self.positions.get(phrase[0], ())
            if tuple(t.key for t in self.tokens[start:start + size]) == phrase
        ]

    def span(self, start: int, size: int) -> tuple[int, int]:
        return self.tokens[start].start, self.tokens[start + size - 1].end


def _extents(rule: Rule, text: _Text) -> list[tuple[tuple[int, int], ...]]:
    """Each occurrence of the rule's pattern as its token runs ((start, end), ...)."""
    pattern = rule.pattern
    first = [(s, s + len(pattern.first)) for s in text.find(pattern.first)]
    if pattern.second is None:
        return [(run,) for run in first]
    second = [(s, s + len(pattern.second)) for s in text.find(pattern.second)]
    found = []
    for a in first:
        for b in second:
            earlier, later = (a, b) if a[0] <= b[0] else (b, a)
            between = later[0] - earlier[1]
            if 0 <= between <= pattern.distance:
                found.append((earlier, later))
    return sorted(set(found))


class CompiledPolicy:
    """A validated policy ready to match many texts and records."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.sha256 = policy.sha256

    def _applies(self, rule: Rule, context: Context) -> bool:
        if rule.direction != "any" and context.direction is not None \
                and rule.direction != context.direction:
            return False
        return not (rule.participants and context.participants
                    and not rule.participants & context.participants)

    def _excepted(self, rule: Rule, text: _Text, extent: tuple[int, int]) -> bool:
        for phrase in (*rule.exceptions, *self.policy.exceptions):
            for start in text.find(phrase):
                if start < extent[1] and start + len(phrase) > extent[0]:
                    return True
        return False

    def _match(self, text: _Text, context: Context, field: str) -> list[Hit]:
        hits = []
        for rule in self.policy.rules:
            if not self._applies(rule, context):
                continue
            for runs in _extents(rule, text):
                extent = (runs[0][0], runs[-1][1])
                if self._excepted(rule, text, extent):
                    continue
                spans = tuple(text.span(start, end - start) for start, end in runs)
                hits.append(Hit(rule.id, field, extent, spans,
                                tuple(text.text[s:e] for s, e in spans)))
        return hits

    def match(self, text: str, context: Context | None = None, *, field: str = "text"
              ) -> list[Hit]:
        """Hits of every applicable rule in ``text``, rule by rule, in text order."""
        return self._match(_Text(text), context or Context(), field)

    def evaluate(self, record: Mapping[str, Any]) -> dict[str, list[Hit]]:
        """Hits per record field (only fields with hits) of a canonical record.

        Texts, captions, edits and document filenames are read (``record_fields``);
        statuses, reactions, deletes, calls and system or unknown events yield nothing.
        """
        conversation = record.get("conversation")
        conversation = conversation if isinstance(conversation, Mapping) else {}
        direction = record.get("direction")
        context = Context.of(
            direction if isinstance(direction, str) else None,
            [value if isinstance(value, str) else None for value in (
                record.get("from"), record.get("to"),
                conversation.get("business_id"), conversation.get("customer_id"))],
        )
        found: dict[str, list[Hit]] = {}
        for field, text in text_fields(record):
            hits = self._match(_Text(text), context, field)
            if hits:
                found[field] = hits
        return found


def compile_policy(policy: Policy) -> CompiledPolicy:
    return CompiledPolicy(policy)
