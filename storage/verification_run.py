"""The daily automatic verification: parts, failures rows, and the report in `seals`.

One run (instance `verify-<day>`) checks the chain, every blob sealed in the last
RESCAN_DAYS days plus the run day's eve in full, and a random sample of blobs across
all older sealed days. Each part is written create-only to
`seals/verification/<run day>/<part>.json` with its findings, each finding becomes a
`verification_failed` failures row (shown by `wa-archive failures` and the TUI), and a
final `report.json` sums the parts. Activities return counts only, so blob names
never enter Durable history.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient

import telemetry
from archive.canonical import canonical_json, sha256_hex
from archive.index import failure_entity
from archive.names import SEALS_CONTAINER
from archive.seal import Leaf, Verifier, in_day
from archive.seal_check import Finding
from storage.blobs import JSON_CONTENT, create_only, read_blob
from storage.index_writer import write_failure
from storage.references import References
from storage.sealing import SealChain
from storage.signing import Signer, verify_any
from storage.verification import (
    VerifyReport,
    check_headers,
    check_leaves,
    day_leaves,
    verify_day,
)

log = logging.getLogger("wa_archive.verification")
REPORT_SCHEMA = "wa-archive/verification@1"
VERIFICATION_PREFIX = "verification/"
# A run that finds the archive badly broken still writes bounded rows and parts;
# the counts stay exact.
MAX_ROWS_PER_PART = 500
MAX_FINDINGS_PER_PART = 10_000
OLDER_SAMPLE = 50


def run_id(day: date) -> str:
    return f"verify-{day.isoformat()}"


def part_name(run_day: date, part: str) -> str:
    return f"{VERIFICATION_PREFIX}{run_day.isoformat()}/{part}.json"


def signer_verifier(signer_factory: Callable[[], Signer]) -> tuple[Verifier, Finding | None]:
    """The public key's verifier; without one, a finding (signatures then go unchecked)."""
    try:
        keys = signer_factory().public_keys()
    except Exception as exc:  # Key Vault without `get`, a missing setting, ...
        return (lambda _data, _sig: True), Finding(
            "seals", "public_key_unavailable", "signing key",
            f"signatures were not checked: {type(exc).__name__}")
    return (lambda data, sig: verify_any(keys, data, sig)), None


def _write_part(blobs: BlobServiceClient, tables: TableServiceClient, run_day: date,
                part: str, report: VerifyReport, at: datetime) -> dict[str, Any]:
    counts = {"part": part, "blobs_checked": report.blobs_checked,
              "bytes_checked": report.bytes_checked, "findings": len(report.findings),
              "disposed": report.disposed,
              "days": len(report.days), **report.counts()}
    doc = {"schema": REPORT_SCHEMA, "run": run_id(run_day), "part": part,
           "at": at.isoformat(), **counts,
           "findings_listed": [f.to_dict() for f in report.findings[:MAX_FINDINGS_PER_PART]]}
    data = canonical_json(doc)
    name = part_name(run_day, part)
    seals = blobs.get_container_client(SEALS_CONTAINER)
    if not create_only(seals, name, data, JSON_CONTENT, metadata={"sha256": sha256_hex(data)}):
        # A retried activity: the part of the first attempt stands.
        previous = json.loads(read_blob(seals, name))
        return {key: previous.get(key) for key in counts}
    for finding in report.findings[:MAX_ROWS_PER_PART]:
        write_failure(tables, failure_entity(
            "verification_failed", day=run_day.isoformat(),
            ref=f"{finding.check}/{finding.kind}/{finding.subject}",
            reason=f"{finding.check}/{finding.kind}: {finding.detail}",
            detail={"run": run_id(run_day), "part": part, **finding.to_dict()},
        ))
    log.info("verification part=%s blobs=%d findings=%d", part, report.blobs_checked,
             len(report.findings))
    return counts


def verify_chain_part(blobs: BlobServiceClient, tables: TableServiceClient,
                      signer_factory: Callable[[], Signer], run_day: date, at: datetime
                      ) -> dict[str, Any]:
    """Every seal and the chain rules; returns the counts and the sealed days."""
    verify, problem = signer_verifier(signer_factory)
    report = VerifyReport()
    if problem:
        report.findings.append(problem)
    entries = check_headers(SealChain(blobs.get_container_client(SEALS_CONTAINER)), verify,
                            report)
    days = sorted({e.day for e in entries if e.day})
    return {**_write_part(blobs, tables, run_day, "seals", report, at), "sealed_days": days}


def verify_day_part(blobs: BlobServiceClient, tables: TableServiceClient,
                    signer_factory: Callable[[], Signer], run_day: date, day: date,
                    at: datetime) -> dict[str, Any]:
    """The day's seals in full, every blob they hold (streamed), the day's completeness."""
    verify, _ = signer_verifier(signer_factory)  # the chain part reports a missing key
    chain = SealChain(blobs.get_container_client(SEALS_CONTAINER))
    report = VerifyReport()
    entries = [e for e in chain.entries() if e.seq >= 0 and e.day in (None, day.isoformat())]
    leaves = [leaf for leaf in day_leaves(chain, [e.name for e in entries], report, verify,
                                          entries)
              if in_day(leaf.container, leaf.name, day)]
    verify_day(blobs, day, leaves, report, tables=tables)
    return _write_part(blobs, tables, run_day, f"day-{day.isoformat()}", report, at)


def verify_older_sample(blobs: BlobServiceClient, tables: TableServiceClient,
                        signer_factory: Callable[[], Signer], run_day: date, before: date,
                        at: datetime, count: int = OLDER_SAMPLE,
                        rng: random.Random | None = None) -> dict[str, Any]:
    """`count` random sealed blobs across the days before `before`: reads (and checks in
    full) only the seals of up to `count` random days, then samples leaves across them."""
    chooser = rng or random.Random()  # sampling which blobs to check, not security
    verify, _ = signer_verifier(signer_factory)
    chain = SealChain(blobs.get_container_client(SEALS_CONTAINER))
    entries = [e for e in chain.entries() if e.seq >= 0]
    older = sorted({e.day for e in entries if e.day and e.day < before.isoformat()})
    days = chooser.sample(older, min(count, len(older)))
    report = VerifyReport(days=sorted(days))
    leaves: list[Leaf] = []
    for day in days:
        of_day = [e for e in entries if e.day == day]
        leaves += day_leaves(chain, [e.name for e in of_day], report, verify, of_day)
    chosen = chooser.sample(leaves, min(count, len(leaves)))
    check_leaves(blobs, chosen, report, refs=References(blobs, tables))
    return _write_part(blobs, tables, run_day, "older-sample", report, at)


def write_report(blobs: BlobServiceClient, run_day: date, parts: list[dict[str, Any]],
                 at: datetime) -> dict[str, Any]:
    totals = {key: sum(int(p.get(key) or 0) for p in parts)
              for key in ("blobs_checked", "bytes_checked", "findings", "integrity",
                          "completeness", "seals", "disposed")}
    summary = {"schema": REPORT_SCHEMA, "run": run_id(run_day), "at": at.isoformat(),
               "ok": totals["findings"] == 0, **totals,
               "parts": [{k: v for k, v in p.items() if k != "sealed_days"} for p in parts]}
    data = canonical_json(summary)
    if create_only(blobs.get_container_client(SEALS_CONTAINER), part_name(run_day, "report"),
                   data, JSON_CONTENT, metadata={"sha256": sha256_hex(data)}):
        # Once per run: a retried activity finds its report written and counts nothing.
        telemetry.verification("passed" if summary["ok"] else "failed")
    return {k: summary[k] for k in ("run", "ok", *totals)}


def latest_report(blobs: BlobServiceClient) -> dict[str, Any] | None:
    """The newest verification report (for the TUI and `wa-archive verify --last`)."""
    seals = blobs.get_container_client(SEALS_CONTAINER)
    names = sorted(b.name for b in seals.list_blobs(name_starts_with=VERIFICATION_PREFIX)
                   if b.name.endswith("/report.json"))
    if not names:
        return None
    value = json.loads(read_blob(seals, names[-1]))
    return value if isinstance(value, dict) else None
