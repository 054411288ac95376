"""`wa-archive lock-retention` against a fake `az` on PATH that records its argv.

This tests our command construction and confirmation guard, not Azure.
"""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from cli.main import build_parser, main

pytestmark = pytest.mark.bicep

ACCOUNT = "stwaarchtest01"
GROUP = "rg-archive"
FAKE_AZ = """#!{python}
import json, os, sys
with open(os.environ["FAKE_AZ_LOG"], "a", encoding="utf-8") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
if sys.argv[1:4] == ["storage", "account", "show"]:
    print(os.environ["FAKE_AZ_SHOW"])
elif sys.argv[1:4] == ["storage", "account", "update"]:
    if os.environ.get("FAKE_AZ_UPDATE_FAILS"):
        print("ERROR: (AuthorizationFailed) not allowed", file=sys.stderr)
        sys.exit(1)
    print("{{}}")
"""


def policy(state: str = "Unlocked", days: int = 2557, enabled: bool = True) -> str:
    return json.dumps(
        {
            "enabled": enabled,
            "immutabilityPolicy": {
                "immutabilityPeriodSinceCreationInDays": days,
                "state": state,
                "allowProtectedAppendWrites": False,
            },
        }
    )


@pytest.fixture
def fake_az(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "az"
    script.write_text(FAKE_AZ.format(python=sys.executable), encoding="utf-8")
    script.chmod(0o755)
    log = tmp_path / "az-calls.jsonl"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_AZ_LOG", str(log))
    monkeypatch.setenv("FAKE_AZ_SHOW", policy())
    monkeypatch.delenv("FAKE_AZ_UPDATE_FAILS", raising=False)
    return log


def calls(log: Path) -> list[list[str]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


def run(monkeypatch: pytest.MonkeyPatch, *extra: str, typed: str = "") -> int:
    monkeypatch.setattr(sys, "stdin", io.StringIO(typed))
    return main(["lock-retention", "-g", GROUP, "-n", ACCOUNT, *extra])


LOCK_ARGV = [
    "storage", "account", "update", "--resource-group", GROUP, "--name", ACCOUNT,
    "--immutability-state", "Locked", "--immutability-period", "2557",
    "--allow-protected-append-writes", "false", "--output", "json",
]  # fmt: skip
SHOW_ARGV = [
    "storage", "account", "show", "--resource-group", GROUP, "--name", ACCOUNT,
    "--query", "immutableStorageWithVersioning", "--output", "json",
]  # fmt: skip


def test_registered_as_a_wa_archive_subcommand() -> None:
    args = build_parser().parse_args(["lock-retention", "-g", GROUP, "-n", ACCOUNT])
    assert callable(args.handler)
    assert args.retention_days == 2557
    assert args.confirmed is False


def test_dry_run_prints_the_exact_commands_and_runs_nothing(
    fake_az: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(monkeypatch, "--dry-run") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "az " + " ".join(SHOW_ARGV)
    assert out[1] == "az " + " ".join(LOCK_ARGV)
    assert calls(fake_az) == []


def test_dry_run_json(
    fake_az: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(monkeypatch, "--dry-run", "--json", "--retention-days", "3650") == 0
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert report["outcome"] == "dry-run"
    assert report["dry_run"] is True
    assert report["commands"][1].endswith(
        "--immutability-state Locked --immutability-period 3650 "
        "--allow-protected-append-writes false --output json"
    )
    assert calls(fake_az) == []


def test_typing_the_account_name_locks(
    fake_az: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(monkeypatch, typed=f"{ACCOUNT}\n") == 0
    assert calls(fake_az) == [SHOW_ARGV, LOCK_ARGV]
    captured = capsys.readouterr()
    assert "IRREVERSIBLE" in captured.err
    assert "retentionPolicyLocked = true" in captured.out


def test_a_wrong_name_aborts_before_locking(
    fake_az: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(monkeypatch, typed="yes\n") == 1
    assert calls(fake_az) == [SHOW_ARGV]
    assert "confirmation did not match" in capsys.readouterr().err


def test_no_input_aborts(fake_az: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run(monkeypatch, typed="") == 1
    assert LOCK_ARGV not in calls(fake_az)


def test_confirm_flag_locks_without_a_prompt(
    fake_az: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run(monkeypatch, "--yes-i-understand-this-is-irreversible", "--json")
    assert code == 0
    assert calls(fake_az) == [SHOW_ARGV, LOCK_ARGV]
    captured = capsys.readouterr()
    assert "IRREVERSIBLE" not in captured.err
    assert json.loads(captured.out)["outcome"] == "locked"


def test_already_locked_changes_nothing(
    fake_az: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FAKE_AZ_SHOW", policy(state="Locked"))
    assert run(monkeypatch, "--json", typed=f"{ACCOUNT}\n") == 0
    assert calls(fake_az) == [SHOW_ARGV]
    assert json.loads(capsys.readouterr().out)["outcome"] == "already-locked"


def test_a_different_retention_period_is_not_locked_in(
    fake_az: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FAKE_AZ_SHOW", policy(days=30))
    assert run(monkeypatch, "--yes-i-understand-this-is-irreversible") == 1
    assert calls(fake_az) == [SHOW_ARGV]
    assert "30 days, not 2557" in capsys.readouterr().err


def test_an_account_without_version_immutability_is_refused(
    fake_az: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FAKE_AZ_SHOW", policy(enabled=False))
    assert run(monkeypatch, "--yes-i-understand-this-is-irreversible") == 2
    assert calls(fake_az) == [SHOW_ARGV]
    assert "no account-level version immutability" in capsys.readouterr().err


def test_az_failure_is_reported(
    fake_az: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FAKE_AZ_UPDATE_FAILS", "1")
    assert run(monkeypatch, "--yes-i-understand-this-is-irreversible") == 2
    assert "AuthorizationFailed" in capsys.readouterr().err


def test_missing_az_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert run(monkeypatch, "--yes-i-understand-this-is-irreversible") == 2
    assert "az) is not on PATH" in capsys.readouterr().err
