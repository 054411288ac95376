"""Evidence for the admin tools: seal a day, export the public key, prove a blob.

The signing key is the one `MANIFEST_SIGNING_KEY_ID` names: from the environment,
else from the data folder's settings.json (`wa-archive dev` writes a `file:` key
there). The public key for verification comes from `--public-key key.pem` when
given (an auditor's own copy), else from that signing key.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from admin.connection import AdminError, Archive, settings_file_values
from archive.canonical import sha256_hex
from archive.layout import partition_name
from archive.names import SEALS_CONTAINER, SETTING_MANIFEST_KEY_ID
from archive.proof import build_proof
from archive.seal import SEALED_CONTAINERS, SealError, Verifier
from archive.seal_check import check_seal
from storage.blobs import read_blob
from storage.sealing import SealChain, SealingError, SealOutcome, seal_day
from storage.settings import SettingError
from storage.signing import (
    Signer,
    load_public_pems,
    public_jwk,
    public_pem,
    signer_from_setting,
    verify_any,
)
from storage.verification_run import latest_report


def signing_setting(data_dir: Path | None = None) -> str:
    value = os.environ.get(SETTING_MANIFEST_KEY_ID, "").strip()
    if not value:
        value = str((settings_file_values(data_dir) or {}).get(SETTING_MANIFEST_KEY_ID, ""))
    if not value.strip():
        raise AdminError(
            f"no seal signing key: set {SETTING_MANIFEST_KEY_ID} (a Key Vault key URL, or "
            "file:<path> to a P-256 PEM key; `wa-archive dev` creates one)")
    return value.strip()


def configured_signer(data_dir: Path | None = None) -> Signer:
    try:
        return signer_from_setting(signing_setting(data_dir))
    except SettingError as exc:
        raise AdminError(str(exc)) from None


def public_keys(data_dir: Path | None = None, pem_file: Path | None = None
                ) -> list[ec.EllipticCurvePublicKey]:
    """The auditor's PEM file (or bundle) when given, else every version of the configured
    signing key (a rotated key must still verify the seals its older versions signed)."""
    if pem_file is not None:
        try:
            return load_public_pems(pem_file.read_bytes())
        except (OSError, ValueError) as exc:
            raise AdminError(f"cannot read the public key {pem_file}: {exc}") from None
    try:
        return configured_signer(data_dir).public_keys()
    except Exception as exc:  # Key Vault: no `get` permission, no network, ...
        if isinstance(exc, AdminError):
            raise
        raise AdminError(
            f"cannot read the seal public key ({type(exc).__name__}); pass --public-key "
            "key.pem (from `wa-archive seal public-key`)") from None


def verifier_for(keys: list[ec.EllipticCurvePublicKey]) -> Verifier:
    def verify(data: bytes, signature: bytes) -> bool:
        return verify_any(keys, data, signature)

    return verify


def export_public_keys(keys: list[ec.EllipticCurvePublicKey], key_id: str | None
                       ) -> dict[str, Any]:
    """A PEM bundle (one block per key version) and a JWK Set."""
    return {"pem": "".join(public_pem(key).decode("ascii") for key in keys),
            "jwks": {"keys": [public_jwk(key, key_id) for key in keys]}}


def seal_one_day(archive: Archive, day: date, data_dir: Path | None = None,
                 *, today: date | None = None) -> SealOutcome:
    """Seal `day` now; refuses today and later (their partitions are still filling)."""
    today = today or datetime.now(UTC).date()
    if day >= today:
        raise AdminError(f"{day} is not over yet (UTC): only days before {today} can be sealed")
    signer = configured_signer(data_dir)
    try:
        return archive.call("blob", f"seal {day}", lambda: seal_day(archive.blobs, signer, day))
    except SealingError as exc:
        raise AdminError(str(exc)) from None


@dataclass(frozen=True)
class BlobRef:
    container: str
    name: str

    @property
    def day(self) -> date:
        # A small media blob's name is its partition under `small/` (archive.layout).
        parts = partition_name(self.name).split("/")
        try:
            values = [p.split("=", 1)[1] for p in parts[:3]]
            if [p.split("=", 1)[0] for p in parts[:3]] != ["year", "month", "day"]:
                raise ValueError
            return date(int(values[0]), int(values[1]), int(values[2]))
        except (IndexError, ValueError):
            raise AdminError(
                "the path has no year=/month=/day= partition, so no seal covers it") from None


def parse_blob_ref(path: str) -> BlobRef:
    """`records/year=...` (any sealed container), or a bare name inside `records`."""
    head, _, rest = path.strip().lstrip("/").partition("/")
    if head in SEALED_CONTAINERS and rest:
        return BlobRef(head, rest)
    return BlobRef("records", path.strip().lstrip("/"))


def prove(archive: Archive, path: str) -> dict[str, Any]:
    """The inclusion proof of a sealed blob, after checking the blob still matches it."""
    ref = parse_blob_ref(path)
    chain = SealChain(archive.container(SEALS_CONTAINER))

    def find() -> dict[str, Any]:
        entries = chain.entries()
        for entry in entries:
            if entry.day not in (None, ref.day.isoformat()):
                continue
            try:
                stored = chain.read(entry.name)
            except SealError:
                continue  # `wa-archive verify` names it; it proves nothing
            if any(leaf.key == (ref.container, ref.name) for leaf in stored.seal.leaves):
                return build_proof(stored, entry.name, ref.container, ref.name)
        raise AdminError(
            f"no seal holds this blob yet: seal its day ({ref.day}) with "
            f"`wa-archive seal --day {ref.day}`, or check the path")

    proof = archive.call("blob", "read the seals", find)
    current = archive.call("blob", "read the blob",
                           lambda: read_blob(archive.container(ref.container), ref.name))
    if sha256_hex(current) != proof["leaf"]["sha256"] or len(current) != proof["leaf"]["size"]:
        raise AdminError("the blob no longer matches its seal: run `wa-archive verify`")
    return proof


@dataclass(frozen=True)
class SealRow:
    """One seal as the TUI's Evidence screen lists it."""

    name: str
    seq: int
    day: str
    kind: str
    counts: dict[str, int]
    leaves: int
    root: str
    signature_ok: bool | None  # None: no public key to check with
    problem: str | None = None


def seal_overview(archive: Archive, verify: Verifier | None = None, *, limit: int = 60
                  ) -> list[SealRow]:
    """The newest `limit` seals, newest first, each with its own checks (not the chain's)."""
    chain = SealChain(archive.container(SEALS_CONTAINER))

    def load() -> list[SealRow]:
        rows: list[SealRow] = []
        for entry in reversed(chain.entries()[-limit:]):
            try:
                stored = chain.read(entry.name)
            except SealError as exc:
                rows.append(SealRow(entry.name, entry.seq, entry.day or "?", entry.kind or "?",
                                    {}, 0, "", None, f"unreadable: {exc}"))
                continue
            seal = stored.seal
            problems = check_seal(entry.name, stored, verify or (lambda _d, _s: True))
            signature = None if verify is None else not any(
                p.kind == "signature_invalid" for p in problems)
            rows.append(SealRow(
                entry.name, seal.seq, seal.day.isoformat(), seal.kind,
                stored.declared_counts, len(seal.leaves), stored.declared_root, signature,
                "; ".join(p.kind for p in problems if p.kind != "signature_invalid") or None))
        return rows

    return archive.call("blob", "read the seals", load)


def latest_verification(archive: Archive) -> dict[str, Any] | None:
    """The newest automatic verification report (counts, ok, its parts), if any."""
    return archive.call("blob", "read the verification reports",
                        lambda: latest_report(archive.blobs))
