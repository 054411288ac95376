"""`wa-archive lock-retention`: lock the archive account's retention policy. Irreversible.

Bicep deploys the account-level, version-level immutability policy Unlocked, so it
can still be corrected. Locking (SEC 17a-4(f) requires it) cannot be undone: after
it the retention period can only be raised, and the account cannot be deleted while
any blob version is under retention. ARM can lock it too (a template asking for
state Locked on an Unlocked policy locks it at once, with no confirmation), but it
neither checks nor audits nor locks older versions; this command runs the lock
through the Azure CLI, behind checks and a typed confirmation.

Locking the account policy does not lock the copies that versions written before
the lock carry: each stays Unlocked and shortenable. So the command refuses while
such versions exist, unless `--lock-existing` locks each too. It then re-reads the
account policy and every version and fails unless all read Locked. The run is
audited in `audit`: an intent entry first (no entry, no lock), then the outcome.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote

from azure.core.exceptions import AzureError

from admin.audit import audited
from admin.connection import AdminError, open_archive
from archive.names import CONTAINERS
from storage.settings import DEFAULT_RETENTION_DAYS

CONFIRM_FLAG = "--yes-i-understand-this-is-irreversible"
LOCKED = "Locked"
UNLOCKED = "Unlocked"
AUDIT_ACTION = "lock-retention"
# Set Blob Immutability Policy with `versionid` needs 2020-06-12 or later.
BLOB_API_VERSION = "2021-08-06"
STORAGE_RESOURCE = "https://storage.azure.com/"

EXIT_OK = 0
EXIT_ABORTED = 1
EXIT_AZ_FAILED = 2
EXIT_NOT_LOCKED = 3


class AzError(RuntimeError):
    """The Azure CLI is missing, failed, or answered something unexpected."""


@dataclass(frozen=True)
class BlobVersion:
    container: str
    name: str
    version_id: str | None
    is_current: bool
    mode: str
    expiry: str

    @property
    def unlocked(self) -> bool:
        return self.mode.lower() == UNLOCKED.lower()


@dataclass(frozen=True)
class LockPlan:
    resource_group: str
    account_name: str
    retention_days: int
    containers: tuple[str, ...] = CONTAINERS

    def show_command(self) -> list[str]:
        return [
            "az", "storage", "account", "show",
            "--resource-group", self.resource_group,
            "--name", self.account_name,
            "--query", "immutableStorageWithVersioning",
            "--output", "json",
        ]  # fmt: skip

    def lock_command(self) -> list[str]:
        # The period and append-write flag are restated so the lock cannot
        # silently carry a value other than the one the operator confirmed.
        return [
            "az", "storage", "account", "update",
            "--resource-group", self.resource_group,
            "--name", self.account_name,
            "--immutability-state", LOCKED,
            "--immutability-period", str(self.retention_days),
            "--allow-protected-append-writes", "false",
            "--output", "json",
        ]  # fmt: skip

    def list_command(self, container: str) -> list[str]:
        # v: every version, not only the current one; i: its immutability policy.
        return [
            "az", "storage", "blob", "list",
            "--account-name", self.account_name,
            "--container-name", container,
            "--include", "vi",
            "--num-results", "*",
            "--auth-mode", "login",
            "--output", "json",
        ]  # fmt: skip

    def lock_version_command(self, version: BlobVersion) -> list[str]:
        # The expiry is restated unchanged: locking must not move it, and a
        # locked policy could never be brought back.
        until = _parse_time(version.expiry)
        if version.is_current:
            return [
                "az", "storage", "blob", "immutability-policy", "set",
                "--account-name", self.account_name,
                "--container-name", version.container,
                "--name", version.name,
                "--policy-mode", LOCKED,
                "--expiry-time", until.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "--auth-mode", "login",
                "--output", "json",
            ]  # fmt: skip
        # `immutability-policy set` has no --version-id: an older version is
        # reached through the Set Blob Immutability Policy REST call.
        url = (
            f"https://{self.account_name}.blob.core.windows.net/{version.container}/"
            f"{quote(version.name)}?comp=immutabilityPolicies"
            f"&versionid={quote(version.version_id or '', safe='')}"
        )
        return [
            "az", "rest", "--method", "put", "--url", url,
            "--resource", STORAGE_RESOURCE,
            "--headers", f"x-ms-version={BLOB_API_VERSION}",
            f"x-ms-immutability-policy-mode={LOCKED}",
            f"x-ms-immutability-policy-until-date={format_datetime(until, usegmt=True)}",
        ]  # fmt: skip


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "lock-retention",
        help="lock the archive account's retention policy (IRREVERSIBLE)",
        description=(
            "Lock the archive account's version-level immutability policy. Once locked, "
            "no one (not even a subscription owner) can shorten retention or delete a "
            "record before it expires. This cannot be undone."
        ),
    )
    parser.add_argument("--resource-group", "-g", required=True, help="resource group")
    parser.add_argument("--account-name", "-n", required=True, help="archive storage account name")
    parser.add_argument(
        "--retention-days", type=int, default=DEFAULT_RETENTION_DAYS,
        help=f"retention the policy must already have (default {DEFAULT_RETENTION_DAYS})",
    )  # fmt: skip
    parser.add_argument(
        "--lock-existing", action="store_true", help="also lock each still-Unlocked blob version"
    )
    parser.add_argument(CONFIRM_FLAG, dest="confirmed", action="store_true",
                        help="skip the typed confirmation (for scripted runs)")  # fmt: skip
    parser.add_argument("--dry-run", action="store_true", help="print the az commands, run nothing")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.retention_days < 1:
        return _finish(args, [], "aborted", "--retention-days must be at least 1", EXIT_ABORTED)
    plan = LockPlan(args.resource_group, args.account_name, args.retention_days)
    commands = [plan.show_command(), *map(plan.list_command, plan.containers),
                plan.lock_command()]  # fmt: skip
    if args.dry_run:
        return _finish(args, commands, "dry-run", "nothing was run", EXIT_OK)
    try:
        return _lock(args, plan, commands)
    except AzError as exc:
        return _finish(args, commands, "error", str(exc), EXIT_AZ_FAILED)


def _lock(args: argparse.Namespace, plan: LockPlan, commands: list[list[str]]) -> int:
    state, days = _current_policy(plan)
    if state not in (LOCKED, UNLOCKED):
        return _finish(
            args, commands, "aborted", f"policy state is {state!r}, expected {UNLOCKED}",
            EXIT_ABORTED,
        )  # fmt: skip
    if state == UNLOCKED and days != plan.retention_days:
        return _finish(
            args, commands, "aborted",
            f"the policy retains for {days} days, not {plan.retention_days}: "
            "redeploy with the intended retentionDays first, or pass --retention-days",
            EXIT_ABORTED,
        )  # fmt: skip
    unlocked = _unlocked_versions(plan)
    extra = {"unlocked_versions": _per_container(unlocked)}
    if state == LOCKED and not unlocked:
        return _finish(args, commands, "already-locked", "the policy is already locked",
                       EXIT_OK, extra)  # fmt: skip
    if unlocked and not args.lock_existing:
        return _finish(
            args, commands, "aborted",
            f"{len(unlocked)} blob version(s) still carry an Unlocked immutability policy "
            f"({_describe(unlocked)}); locking the account policy would leave them "
            "shortenable. Rerun with --lock-existing to lock each of them too",
            EXIT_ABORTED, extra,
        )  # fmt: skip
    if not args.confirmed and not _confirm(plan, state, len(unlocked)):
        return _finish(args, commands, "aborted", "confirmation did not match", EXIT_ABORTED,
                       extra)  # fmt: skip
    return _lock_audited(args, plan, commands, state, unlocked, extra)


def _lock_audited(
    args: argparse.Namespace, plan: LockPlan, commands: list[list[str]], state: str,
    unlocked: list[BlobVersion], extra: dict[str, Any],
) -> int:  # fmt: skip
    target = {
        "account": plan.account_name,
        "resource_group": plan.resource_group,
        "retention_days": plan.retention_days,
        "account_policy_was": state,
        "unlocked_versions": len(unlocked),
    }
    started = False
    code, message = EXIT_AZ_FAILED, "interrupted"
    try:
        with audited(open_archive(plan.account_name), AUDIT_ACTION, target) as run:
            started = True  # the intent entry exists: locking may begin
            if state == UNLOCKED:
                _run_az(plan.lock_command())
            for done, version in enumerate(unlocked, start=1):
                _run_az(plan.lock_version_command(version))
                _progress(done, len(unlocked))
            code, run.result, message = _verify(plan)
    except (AdminError, AzureError) as exc:
        if not started:
            return _finish(args, commands, "aborted",
                           f"nothing was locked: the audit entry could not be written: {exc}",
                           EXIT_ABORTED, extra)  # fmt: skip
        # The lock itself cannot be undone; say loudly that its record is missing.
        print(f"lock-retention: the outcome audit entry failed: {exc}", file=sys.stderr)
    outcome = "locked" if code == EXIT_OK else "not-locked"
    return _finish(args, commands, outcome, message, code, extra)


def _verify(plan: LockPlan) -> tuple[int, str, str]:
    """Re-read everything: only what Azure now reports as Locked counts."""
    state, _ = _current_policy(plan)
    left = _unlocked_versions(plan)
    if state != LOCKED or left:
        problem = f"after locking, the account policy reads {state!r}"
        if left:
            problem += f" and {len(left)} version(s) still read Unlocked ({_describe(left)})"
        return EXIT_NOT_LOCKED, f"not-locked: {problem}", problem
    return (
        EXIT_OK,
        "locked: account policy and every blob version read Locked",
        "retention is locked and re-read as Locked; set retentionPolicyLocked = true in "
        "bicep/main.bicepparam so redeployments keep it locked",
    )


def _current_policy(plan: LockPlan) -> tuple[Any, Any]:
    shown = _run_az(plan.show_command())
    if not isinstance(shown, dict) or shown.get("enabled") is not True:
        raise AzError(
            f"{plan.account_name} has no account-level version immutability; "
            "was it deployed from bicep/main.bicep?"
        )
    policy = shown.get("immutabilityPolicy")
    if not isinstance(policy, dict):
        raise AzError(f"{plan.account_name} has no immutability policy to lock")
    return policy.get("state"), policy.get("immutabilityPeriodSinceCreationInDays")


def _unlocked_versions(plan: LockPlan) -> list[BlobVersion]:
    found: list[BlobVersion] = []
    for container in plan.containers:
        listing = _run_az(plan.list_command(container))
        if not isinstance(listing, list):
            raise AzError(f"listing the '{container}' container did not return a list")
        found.extend(v for v in _versions(container, listing) if v.unlocked)
    return found


def _versions(container: str, listing: list[Any]) -> Iterator[BlobVersion]:
    for item in listing:
        if not isinstance(item, dict):
            continue
        props = item.get("properties")
        nested = props.get("immutabilityPolicy") if isinstance(props, dict) else None
        policy = item.get("immutabilityPolicy") or nested or {}
        yield BlobVersion(
            container=container,
            name=str(item.get("name", "")),
            version_id=item.get("versionId"),
            is_current=bool(item.get("isCurrentVersion", item.get("versionId") is None)),
            mode=str(policy.get("policyMode") or ""),
            expiry=str(policy.get("expiryTime") or ""),
        )


def _parse_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise AzError(f"unreadable immutability expiry time {text!r}") from None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)


def _per_container(versions: list[BlobVersion]) -> dict[str, int]:
    return dict(Counter(v.container for v in versions))


def _describe(versions: list[BlobVersion]) -> str:
    # Counts per container, not names: blob names can carry customer identifiers.
    return ", ".join(f"{c}: {n}" for c, n in sorted(_per_container(versions).items()))


def _progress(done: int, total: int, stream: Any = None) -> None:
    stream = stream or sys.stderr
    interactive = stream.isatty()
    if interactive or done == total or done % 100 == 0:
        end = "\r" if interactive and done < total else "\n"
        print(f"lock-retention: locked {done}/{total} blob version(s)", end=end,
              file=stream, flush=True)  # fmt: skip


def _confirm(plan: LockPlan, state: str, versions: int) -> bool:
    what = f"the retention policy of {plan.account_name} ({plan.retention_days} days)"
    if state == LOCKED:
        what = f"{versions} blob version(s) of {plan.account_name}"
    elif versions:
        what += f" and {versions} existing blob version(s)"
    print(f"Locking {what} is IRREVERSIBLE.\nType the storage account name to confirm: ",
          end="", file=sys.stderr, flush=True)  # fmt: skip
    return sys.stdin.readline().strip() == plan.account_name


def _run_az(command: list[str]) -> Any:
    executable = shutil.which(command[0])
    if executable is None:
        raise AzError("the Azure CLI (az) is not on PATH; install it and run `az login`")
    completed = subprocess.run(
        [executable, *command[1:]], capture_output=True, text=True, check=False
    )
    if completed.returncode != 0:
        detail = completed.stderr.strip() or completed.stdout.strip()
        raise AzError(f"`{shlex.join(command[:4])}` failed ({completed.returncode}): {detail}")
    output = completed.stdout.strip()
    if not output:
        return None
    try:
        return json.loads(output)
    except json.JSONDecodeError as exc:
        raise AzError(f"`{shlex.join(command[:4])}` printed something that is not JSON") from exc


def _finish(
    args: argparse.Namespace,
    commands: list[list[str]],
    outcome: str,
    message: str,
    code: int,
    extra: dict[str, Any] | None = None,
) -> int:
    if args.json:
        report = {
            "outcome": outcome,
            "message": message,
            "resource_group": args.resource_group,
            "account_name": args.account_name,
            "retention_days": args.retention_days,
            "dry_run": bool(args.dry_run),
            "lock_existing": bool(args.lock_existing),
            "commands": [shlex.join(c) for c in commands],
            **(extra or {}),
        }
        print(json.dumps(report, indent=2))
        return code
    if args.dry_run:
        for command in commands:
            print(shlex.join(command))
    stream = sys.stdout if code == EXIT_OK else sys.stderr
    print(f"lock-retention: {outcome}: {message}", file=stream)
    return code
