"""`wa-archive lexicon test | set | show | versions | backfill`: supervision lexicons.

    wa-archive lexicon test FILE "text" [--direction inbound|outbound]
                            [--participant ID ...] [--json]
    wa-archive lexicon set FILE [--json]
    wa-archive lexicon show [--version N] [--list] [--json]
    wa-archive lexicon versions [--json]
    wa-archive lexicon backfill --version N --from YYYY-MM-DD --to YYYY-MM-DD
                                [--wait] [--json]

`test` validates a policy file offline and prints each hit (rule id and the matched
words) or "no hits"; without --direction or --participant the rules' scopes are not
checked, and the output says so. `set` stores the file as the next policy version (or
says "unchanged" when the active version is identical); the pipeline uses it within
PIPELINE_DELAY_SECONDS. `show` prints a version (default: the active one), `versions` (or
`show --list`) all of them with who set them and when. `backfill` flags records already
archived with one version, in the Function App (Durable API), `--wait` showing progress.

Exit codes: 0 done; 1 a failure (storage, Durable API, a stored version that fails its
check, a backfill that failed); 2 bad input (a missing or invalid policy file, an unknown
version, a bad day range).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from admin.connection import AdminError, Archive, open_archive
from admin.durable_api import open_durable
from admin.lexicon import (
    PIPELINE_DELAY_SECONDS,
    LexiconStoreError,
    PolicyVersion,
    VersionNotFoundError,
    list_versions,
    set_policy,
    show_policy,
    start_backfill,
    wait_backfill,
)
from admin.text import printable
from archive.lexicon import Context, Policy, PolicyError, compile_policy, policy_from_json
from cli.admin_commands import add_target_options
from storage.flags import BackfillInputError, backfill_input


def _unchecked(args: argparse.Namespace) -> list[str]:
    return [name for name, given in (("direction", args.direction),
                                     ("participants", args.participant)) if not given]


def _read_policy(path: Path) -> Policy | None:
    """The validated policy file, or None after printing why not (exit code 2)."""
    try:
        return policy_from_json(path.read_bytes())
    except OSError as exc:
        print(f"wa-archive lexicon: {path}: cannot read ({exc.strerror or exc})",
              file=sys.stderr)
    except PolicyError as exc:
        print(f"wa-archive lexicon: {path}: {printable(str(exc))}", file=sys.stderr)
    return None


def run_test(args: argparse.Namespace) -> int:
    path = Path(args.file)
    policy = _read_policy(path)
    if policy is None:
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


def _dump(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=True, ensure_ascii=False)
    sys.stdout.write("\n")


def _summary(found: PolicyVersion) -> str:
    return (f"version {found.version}  sha256 {found.sha256}  set {printable(found.set_at)} "
            f"by {printable(found.set_by)}  ({len(found.policy.rules)} rules: "
            f"{printable(found.policy.name)})")


def run_set(args: argparse.Namespace, archive: Archive) -> int:
    path = Path(args.file)
    policy = _read_policy(path)
    if policy is None:
        return 2
    found, changed = set_policy(archive, policy)
    if args.json:
        _dump({**found.to_json(), "changed": changed,
               "pipeline_within_seconds": PIPELINE_DELAY_SECONDS})
        return 0
    if changed:
        print(f"policy version {found.version} set (sha256 {found.sha256})")
        print(f"The pipeline uses it within {PIPELINE_DELAY_SECONDS:.0f} s (each Functions "
              "instance caches the active policy). To cover messages archived meanwhile:")
        day = date.today().isoformat()
        print(f"  wa-archive lexicon backfill --version {found.version} --from {day} "
              f"--to {day} --wait")
    else:
        print(f"unchanged: version {found.version} already has this policy "
              f"(sha256 {found.sha256}); no new version stored")
    return 0


def run_show(args: argparse.Namespace, archive: Archive) -> int:
    if args.list:
        return run_versions(args, archive)
    found = show_policy(archive, args.version)
    if args.json:
        _dump(found.to_json())
        return 0
    print(_summary(found))
    print(json.dumps(found.policy.document, indent=2, sort_keys=True, ensure_ascii=False))
    return 0


def run_versions(args: argparse.Namespace, archive: Archive) -> int:
    found = list_versions(archive)
    if args.json:
        _dump([item.to_json() if isinstance(item, PolicyVersion) else {"error": str(item)}
               for item in found])
        return 1 if any(isinstance(item, Exception) for item in found) else 0
    if not found:
        print("no lexicon policy has been set")
    for item in found:
        print(_summary(item) if isinstance(item, PolicyVersion)
              else f"REFUSED  {printable(item)}")
    return 1 if any(isinstance(item, Exception) for item in found) else 0


def _progress(args: argparse.Namespace) -> Callable[[dict[str, Any]], None]:
    last: list[str] = []

    def show(status: dict[str, Any]) -> None:
        line = (f"backfill v{status.get('version')}: day {status.get('day')} "
                f"({status.get('days_done')}/{status.get('days_total')} days done), "
                f"{status.get('records_read')} records read, {status.get('flagged')} flagged")
        if last and last[-1] == line:
            return  # one line per change, so a log of the run stays short
        last.append(line)
        print(printable(line), file=sys.stderr, flush=True)

    return show


def run_backfill(args: argparse.Namespace, archive: Archive) -> int:
    try:
        first, last = date.fromisoformat(args.start), date.fromisoformat(args.end)
    except ValueError:
        print("wa-archive lexicon backfill: --from and --to are days, YYYY-MM-DD",
              file=sys.stderr)
        return 2
    backfill_input(args.version, first, last)  # bad input is exit 2, before any lookup
    durable = open_durable(args.data_dir)
    if durable is None:
        print("wa-archive lexicon backfill: no Durable API found: set WA_DURABLE_API_URL and "
              "WA_DURABLE_API_KEY (the Function App's durabletask_extension key), or run "
              "`wa-archive dev`", file=sys.stderr)
        return 1
    started = start_backfill(archive, durable, args.version, first, last)
    out: dict[str, Any] = {"instance_id": started.instance_id, "version": args.version,
                           "sha256": started.version.sha256, "from": first.isoformat(),
                           "to": last.isoformat(), "already_running": started.already_running}
    if not args.json:
        verb = "already running" if started.already_running else "started"
        print(f"backfill {printable(started.instance_id)} {verb}", file=sys.stderr)
    if args.wait:
        status = wait_backfill(durable, started.instance_id, _progress(args))
        out["progress"] = status.get("customStatus")
        out["status"] = status.get("runtimeStatus")
    if args.json:
        _dump(out)
    elif args.wait:
        p = out["progress"] or {}
        print(f"backfill done: {p.get('days_done')} days, {p.get('records_read')} records "
              f"read, {p.get('flagged')} flagged with version {args.version}")
    else:
        print(f"{started.instance_id}: watch it with `wa-archive lexicon backfill "
              f"--version {args.version} --from {first} --to {last} --wait`")
    return 0


def _handler(run: Callable[[argparse.Namespace, Archive], int]
             ) -> Callable[[argparse.Namespace], int]:
    def handle(args: argparse.Namespace) -> int:
        name = f"wa-archive lexicon {args.action}"
        try:
            return int(run(args, open_archive(args.account, args.data_dir)))
        except (VersionNotFoundError, BackfillInputError) as exc:
            print(f"{name}: {printable(exc)}", file=sys.stderr)
            return 2
        except (AdminError, LexiconStoreError) as exc:
            print(f"{name}: {printable(exc)}", file=sys.stderr)
            return 1

    return handle


def _common(parser: argparse.ArgumentParser) -> None:
    add_target_options(parser)
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "lexicon", help="supervision lexicon: test, set and show policies, backfill flags")
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

    put = actions.add_parser("set", help="store a policy file as the next version (audited)")
    put.add_argument("file", metavar="FILE", help="policy file (JSON, wa-archive/lexicon@1)")
    _common(put)
    put.set_defaults(handler=_handler(run_set))

    show = actions.add_parser("show", help="a policy version (default: the active one)")
    show.add_argument("--version", type=int, metavar="N", help="this version number")
    show.add_argument("--list", action="store_true", help="list every version instead")
    _common(show)
    show.set_defaults(handler=_handler(run_show))

    listing = actions.add_parser("versions", help="every policy version, who set it and when")
    _common(listing)
    listing.set_defaults(handler=_handler(run_versions))

    backfill = actions.add_parser(
        "backfill", help="flag archived records with a policy version (Function App job)")
    backfill.add_argument("--version", type=int, required=True, metavar="N",
                          help="the policy version to apply (not necessarily the active one)")
    backfill.add_argument("--from", dest="start", required=True, metavar="YYYY-MM-DD",
                          help="first provider day (UTC)")
    backfill.add_argument("--to", dest="end", required=True, metavar="YYYY-MM-DD",
                          help="last provider day (UTC, inclusive)")
    backfill.add_argument("--wait", action="store_true",
                          help="wait for it to finish, showing progress on stderr")
    _common(backfill)
    backfill.set_defaults(handler=_handler(run_backfill))
