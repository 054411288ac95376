"""`wa-archive seal | verify | prove | verify-proof`: the archive's evidence for auditors.

seal --day D          seal one UTC day now (what the 01:30 timer does for yesterday)
seal public-key       export the verification keys, every version (PEM bundle; JWK Set
                      with --json or --jwk-out)
verify                check integrity, completeness and the seal chain; exit 1 on a finding
prove PATH            write the inclusion proof of a sealed blob (a record by default)
verify-proof P        check a proof offline: no Azure access, only the public key

Exit codes: 0 ok, 1 a finding (verify, verify-proof), 2 the command could not run.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from datetime import date
from pathlib import Path
from typing import Any, cast

from azure.storage.blob import BlobServiceClient

from admin.audit import audited
from admin.connection import AdminError, Archive, open_archive
from admin.evidence import (
    configured_signer,
    export_public_keys,
    prove,
    public_keys,
    seal_one_day,
    verifier_for,
)
from admin.text import printable
from archive.proof import verify_proof
from cli.admin_commands import add_target_options
from storage.local_copy import LocalArchive
from storage.verification import VerifyReport, verify_archive


def _dump(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


def run_seal(args: argparse.Namespace, archive: Archive | None) -> int:
    if args.action == "public-key":
        return run_public_key(args)
    if args.day is None:
        raise AdminError("seal needs --day YYYY-MM-DD (or the action public-key)")
    assert archive is not None
    with audited(archive, "seal", {"day": args.day.isoformat()}) as run:
        outcome = seal_one_day(archive, args.day, args.data_dir)
        run.result = (f"ok: {outcome.kind or 'nothing new'} seq={outcome.seq} "
                      f"leaves={outcome.leaves}")
    if args.json:
        _dump(outcome.to_dict())
    elif outcome.kind is None:
        print(f"{outcome.day}: already sealed, nothing new ({outcome.listed} blobs listed)")
    else:
        print(f"{outcome.day}: {outcome.kind} seal #{outcome.seq} ({outcome.name})")
        print(f"  leaves {outcome.leaves} of {outcome.listed} listed, root {outcome.root}")
        print(f"  list calls {outcome.list_calls}, hashed without metadata {outcome.hashed}")
    return 0


def run_public_key(args: argparse.Namespace) -> int:
    signer = configured_signer(args.data_dir)
    exported = export_public_keys(signer.public_keys(), signer.key_id)
    if args.out:
        args.out.write_text(exported["pem"], encoding="ascii")
    if args.jwk_out:
        args.jwk_out.write_text(json.dumps(exported["jwks"], indent=2) + "\n", encoding="ascii")
    if args.json:
        _dump(exported)
    elif not args.out:
        print(exported["pem"], end="")
    return 0


def _progress(args: argparse.Namespace) -> Any:
    if args.json or not sys.stderr.isatty():
        return None

    def show(count: int) -> None:
        if count % 100 == 0:
            print(f"\r{count} blobs checked", end="", file=sys.stderr, flush=True)

    return show


def _print_report(report: VerifyReport) -> None:
    counts = report.counts()
    print(f"seals:          {report.seals}")
    print(f"days:           {len(report.days)}"
          + (f" ({report.days[0]} .. {report.days[-1]})" if report.days else ""))
    print(f"blobs checked:  {report.blobs_checked} ({report.bytes_checked} bytes)")
    print(f"disposed:       {report.disposed} (listed by disposal certificates)")
    print(f"integrity:      {counts['integrity']} failed")
    print(f"completeness:   {counts['completeness']} failed")
    print(f"seals:          {counts['seals']} failed")
    for finding in report.findings:
        print(f"  FAILED {finding.check}/{finding.kind} {printable(finding.subject)}: "
              f"{printable(finding.detail)}")
    print("OK" if report.ok else "FAILED")


def _finish(args: argparse.Namespace, report: VerifyReport) -> int:
    """End the progress line, print the report, exit 1 on any finding."""
    if _progress(args):
        print(file=sys.stderr)
    if args.json:
        _dump(report.to_json())
    else:
        _print_report(report)
    return 0 if report.ok else 1


def run_verify_offline(args: argparse.Namespace) -> int:
    """A local copy of the containers, no Azure access (and so no audit entry)."""
    if args.public_key is None or args.source is None:
        raise AdminError("--offline needs --source DIR and --public-key key.pem")
    if not args.source.is_dir():
        raise AdminError(f"--source {args.source} is not a folder")
    blobs = cast(BlobServiceClient, LocalArchive(args.source))
    report = verify_archive(blobs, verifier_for(public_keys(None, args.public_key)),
                            start=args.start, end=args.end, sample=args.sample,
                            progress=_progress(args))
    return _finish(args, report)


def run_verify(args: argparse.Namespace, archive: Archive | None) -> int:
    if args.offline or args.source is not None:
        return run_verify_offline(args)
    assert archive is not None
    verify = verifier_for(public_keys(args.data_dir, args.public_key))
    target = {"from": str(args.start or ""), "to": str(args.end or ""),
              "sample": args.sample}
    rng = random.Random(args.seed) if args.seed is not None else None
    with audited(archive, "verify", target) as run:
        report = archive.call("blob", "verify the archive against its seals", lambda: (
            verify_archive(archive.blobs, verify, start=args.start, end=args.end,
                           sample=args.sample, rng=rng, progress=_progress(args),
                           tables=archive.tables)))
        counts = report.counts()
        run.result = (f"{'ok' if report.ok else 'failed'}: {report.blobs_checked} blobs, "
                      f"{counts['integrity']} integrity, {counts['completeness']} "
                      f"completeness, {counts['seals']} seal failures")
    return _finish(args, report)


def run_prove(args: argparse.Namespace, archive: Archive | None) -> int:
    assert archive is not None
    with audited(archive, "prove", {"path": args.path}) as run:
        proof = prove(archive, args.path)
        run.result = f"ok: seal {proof['seal_name']}"
    text = json.dumps(proof, indent=2, sort_keys=True) + "\n"
    if args.out:
        args.out.write_text(text, encoding="utf-8")
        print(f"proof written to {args.out} ({proof['seal_name']}, day {proof['seal']['day']})")
    else:
        sys.stdout.write(text)
    return 0


def run_verify_proof(args: argparse.Namespace, archive: Archive | None) -> int:
    verify = verifier_for(public_keys(None, args.public_key))
    try:
        proof = json.loads(args.proof.read_text(encoding="utf-8"))
        blob = args.blob.read_bytes() if args.blob else None
    except (OSError, ValueError) as exc:
        raise AdminError(f"cannot read the proof or blob: {exc}") from None
    result = verify_proof(proof, verify, blob)
    if args.json:
        _dump({"ok": result.ok, "problems": list(result.problems), "day": result.seal_day,
               "blob_checked": result.record_checked,
               "leaf": result.leaf.to_dict() if result.leaf else None})
    else:
        subject = f"{result.leaf.container}/{result.leaf.name}" if result.leaf else "?"
        for problem in result.problems:
            print(f"  FAILED {problem}")
        verdict = "VERIFIED" if result.ok else "NOT VERIFIED"
        print(f"{verdict}: {printable(subject)} in the seal of {result.seal_day}"
              + ("" if result.record_checked else " (blob bytes not given: --blob FILE)"))
    return 0 if result.ok else 1


def _handler(run: Any, needs_archive: bool = True) -> Any:
    def handle(args: argparse.Namespace) -> int:
        try:
            offline = (not needs_archive or getattr(args, "action", None) == "public-key"
                       or getattr(args, "offline", False)
                       or getattr(args, "source", None) is not None)
            archive = None if offline else open_archive(args.account, args.data_dir)
            return int(run(args, archive))
        except (AdminError, ValueError) as exc:
            print(f"wa-archive {args.command}: {printable(exc)}", file=sys.stderr)
            return 2

    return handle


def _day(text: str) -> date:
    return date.fromisoformat(text)


def register(subparsers: Any) -> None:
    seal = subparsers.add_parser(
        "seal", help="seal a UTC day now, or export the public key (seal public-key)")
    seal.add_argument("action", nargs="?", choices=["public-key"],
                      help="public-key: print the verification key (PEM)")
    add_target_options(seal)
    seal.add_argument("--day", type=_day, metavar="YYYY-MM-DD", help="the UTC day to seal")
    seal.add_argument("--out", type=Path, help="public-key: write the PEM to this file")
    seal.add_argument("--jwk-out", type=Path,
                      help="public-key: write the JWK Set (one key per version) to this file")
    seal.add_argument("--json", action="store_true", help="machine-readable output")
    seal.set_defaults(handler=_handler(run_seal))

    verify = subparsers.add_parser(
        "verify", help="verify the archive against its seals (exit 1 on any failure)")
    add_target_options(verify)
    verify.add_argument("--from", dest="start", type=_day, metavar="YYYY-MM-DD")
    verify.add_argument("--to", dest="end", type=_day, metavar="YYYY-MM-DD")
    verify.add_argument("--sample", type=int, metavar="N",
                        help="check N random sealed blobs per day instead of all")
    verify.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    verify.add_argument("--public-key", type=Path, metavar="KEY.pem",
                        help="verify signatures with this key (default: the signing key's)")
    verify.add_argument("--offline", action="store_true",
                        help="verify a local copy (--source); no Azure access at all")
    verify.add_argument("--source", type=Path, metavar="DIR",
                        help="a local copy of the containers, one folder each (azcopy)")
    verify.add_argument("--json", action="store_true", help="machine-readable output")
    verify.set_defaults(handler=_handler(run_verify))

    prove_parser = subparsers.add_parser(
        "prove", help="write the inclusion proof of a sealed record (or other blob)")
    prove_parser.add_argument("path", help="record path (or <container>/<blob name>)")
    add_target_options(prove_parser)
    prove_parser.add_argument("--out", type=Path, help="write the proof here")
    prove_parser.set_defaults(handler=_handler(run_prove))

    check = subparsers.add_parser(
        "verify-proof", help="check a proof offline with the public key (no Azure access)")
    check.add_argument("proof", type=Path, help="proof.json from `wa-archive prove`")
    check.add_argument("--public-key", type=Path, required=True, metavar="KEY.pem")
    check.add_argument("--blob", "--record", dest="blob", type=Path, metavar="FILE",
                       help="the record (or blob) bytes to check against the proof")
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.set_defaults(handler=_handler(run_verify_proof, needs_archive=False))
