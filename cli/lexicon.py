"""`wa-archive lexicon test`: try a supervision lexicon on a text, offline.

    wa-archive lexicon test FILE "text" [--direction inbound|outbound]
                            [--participant ID ...] [--json]

Validates the policy file and prints each hit (rule id and the matched words) or
"no hits". Without --direction or --participant the rules' scopes are not checked, and
the output says so. `lexicon set` and `lexicon show` come with policy storage (issue #16).

Exit codes: 0 it ran (hits or not), 2 the file is missing or not a valid policy.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from admin.text import printable
from archive.lexicon import Context, PolicyError, compile_policy, policy_from_json


def _unchecked(args: argparse.Namespace) -> list[str]:
    return [name for name, given in (("direction", args.direction),
                                     ("participants", args.participant)) if not given]


def run_test(args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        policy = policy_from_json(path.read_bytes())
    except OSError as exc:
        print(f"wa-archive lexicon: {path}: cannot read ({exc.strerror or exc})",
              file=sys.stderr)
        return 2
    except PolicyError as exc:
        print(f"wa-archive lexicon: {path}: {printable(str(exc))}", file=sys.stderr)
        return 2
    compiled = compile_policy(policy)
    hits = compiled.match(args.text, Context.of(args.direction, args.participant or ()))
    unchecked = _unchecked(args)
    if args.json:
        out: dict[str, Any] = {
            "policy": {"name": policy.name, "sha256": compiled.sha256,
                       "rules": len(policy.rules)},
            "hits": [hit.to_dict() for hit in hits],
            "scope_not_checked": unchecked,
        }
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    for hit in hits:
        words = " ... ".join(repr(m) for m in hit.matched)
        spans = ", ".join(f"{s}-{e}" for s, e in hit.spans)
        print(f"{hit.rule}: {words} (characters {spans})")
    if not hits:
        print("no hits")
    if unchecked:
        print(f"(scope not checked: {', '.join(unchecked)})")
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "lexicon", help="supervision lexicon: try a policy on a text (set/show come later)")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    test = actions.add_parser("test", help="validate a policy file and show its hits in TEXT")
    test.add_argument("file", metavar="FILE", help="policy file (JSON, wa-archive/lexicon@1)")
    test.add_argument("text", metavar="TEXT", help="the text to check")
    test.add_argument("--direction", choices=("inbound", "outbound"),
                      help="the message's direction, for rules scoped by direction")
    test.add_argument("--participant", action="append", metavar="ID",
                      help="a participant id (repeatable), for rules scoped by participant")
    test.add_argument("--json", action="store_true", help="machine-readable output")
    test.set_defaults(handler=run_test)
