"""`wa-archive lock-retention`: lock the archive account's retention policy. Irreversible.

Bicep deploys the account-level, version-level immutability policy Unlocked, so it
can still be corrected. Locking (SEC 17a-4(f) requires it) cannot be undone: after
it the retention period can only be raised, and the account cannot be deleted while
any blob version is under retention. ARM templates cannot express the lock step, so
this command runs it through the Azure CLI, behind a typed confirmation.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from storage.settings import DEFAULT_RETENTION_DAYS

CONFIRM_FLAG = "--yes-i-understand-this-is-irreversible"
LOCKED = "Locked"
UNLOCKED = "Unlocked"

EXIT_OK = 0
EXIT_ABORTED = 1
EXIT_AZ_FAILED = 2


class AzError(RuntimeError):
    """The Azure CLI is missing, failed, or answered something unexpected."""


@dataclass(frozen=True)
class LockPlan:
    resource_group: str
    account_name: str
    retention_days: int

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
    parser.add_argument(
        "--account-name", "-n", required=True, help="archive storage account name"
    )
    parser.add_argument(
        "--retention-days",
        type=int,
        default=DEFAULT_RETENTION_DAYS,
        help=f"retention the policy must already have (default {DEFAULT_RETENTION_DAYS})",
    )
    parser.add_argument(
        CONFIRM_FLAG,
        dest="confirmed",
        action="store_true",
        help="skip the typed confirmation (for scripted runs)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the az commands and run nothing"
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.retention_days < 1:
        return _finish(args, [], "aborted", "--retention-days must be at least 1", EXIT_ABORTED)
    plan = LockPlan(args.resource_group, args.account_name, args.retention_days)
    commands = [plan.show_command(), plan.lock_command()]
    if args.dry_run:
        return _finish(args, commands, "dry-run", "nothing was run", EXIT_OK)
    try:
        return _lock(args, plan, commands)
    except AzError as exc:
        return _finish(args, commands, "error", str(exc), EXIT_AZ_FAILED)


def _lock(args: argparse.Namespace, plan: LockPlan, commands: list[list[str]]) -> int:
    policy = _current_policy(plan)
    state = policy.get("state")
    if state == LOCKED:
        return _finish(args, commands, "already-locked", "the policy is already locked", EXIT_OK)
    if state != UNLOCKED:
        return _finish(
            args, commands, "aborted", f"policy state is {state!r}, expected {UNLOCKED}",
            EXIT_ABORTED,
        )  # fmt: skip
    days = policy.get("immutabilityPeriodSinceCreationInDays")
    if days != plan.retention_days:
        return _finish(
            args, commands, "aborted",
            f"the policy retains for {days} days, not {plan.retention_days}: "
            "redeploy with the intended retentionDays first, or pass --retention-days",
            EXIT_ABORTED,
        )  # fmt: skip
    if not args.confirmed and not _confirm(plan):
        return _finish(args, commands, "aborted", "confirmation did not match", EXIT_ABORTED)
    _run_az(plan.lock_command())
    return _finish(
        args, commands, "locked",
        "retention is locked; set retentionPolicyLocked = true in bicep/main.bicepparam "
        "so redeployments keep it locked",
        EXIT_OK,
    )  # fmt: skip


def _current_policy(plan: LockPlan) -> dict[str, Any]:
    shown = _run_az(plan.show_command())
    if not isinstance(shown, dict) or shown.get("enabled") is not True:
        raise AzError(
            f"{plan.account_name} has no account-level version immutability; "
            "was it deployed from bicep/main.bicep?"
        )
    policy = shown.get("immutabilityPolicy")
    if not isinstance(policy, dict):
        raise AzError(f"{plan.account_name} has no immutability policy to lock")
    return policy


def _confirm(plan: LockPlan) -> bool:
    print(
        f"Locking the retention policy of {plan.account_name} ({plan.retention_days} days) "
        "is IRREVERSIBLE.\nType the storage account name to confirm: ",
        end="",
        file=sys.stderr,
        flush=True,
    )
    typed = sys.stdin.readline().strip()
    return typed == plan.account_name


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
) -> int:
    if args.json:
        print(
            json.dumps(
                {
                    "outcome": outcome,
                    "message": message,
                    "resource_group": args.resource_group,
                    "account_name": args.account_name,
                    "retention_days": args.retention_days,
                    "dry_run": bool(args.dry_run),
                    "commands": [shlex.join(c) for c in commands],
                },
                indent=2,
            )
        )
        return code
    if args.dry_run:
        for command in commands:
            print(shlex.join(command))
    stream = sys.stdout if code == EXIT_OK else sys.stderr
    print(f"lock-retention: {outcome}: {message}", file=stream)
    return code
