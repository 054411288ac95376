"""Lexicon supervision (issue #16): a versioned policy of phrases, matched on normalised text.

Pure: the caller reads the policy file and the records. ``policy_from_json`` validates a
policy, ``compile_policy`` prepares it once, then ``match(text)`` or ``evaluate(record)``.
"""

from archive.lexicon.matching import CompiledPolicy, Context, Hit, compile_policy
from archive.lexicon.normalize import Token, normalize, tokenize
from archive.lexicon.policy import (
    LEXICON_SCHEMA,
    Pattern,
    Policy,
    PolicyError,
    Rule,
    parse_pattern,
    parse_policy,
    policy_from_json,
)
from archive.lexicon.record_fields import text_fields

__all__ = [
    "LEXICON_SCHEMA", "CompiledPolicy", "Context", "Hit", "Pattern", "Policy", "PolicyError",
    "Rule", "Token", "compile_policy", "normalize", "parse_pattern", "parse_policy",
    "policy_from_json", "text_fields", "tokenize",
]
