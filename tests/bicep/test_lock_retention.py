"""`wa-archive lock-retention` against a fake `az` on PATH that keeps a little state.

The fake answers `storage account show/update`, `storage blob list` and the two
version-locking calls from a JSON state file, so a test can watch the command
lock, re-read, and notice when Azure did not do what it was asked. This tests our
command construction, guards and verification, not Azure. The audit entries go to
a real Azurite.
"""

from __future__ import annotations

import io
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient

import cli.lock_retention as lock_retention
from admin.connection import Archive, ArchiveTarget
from archive.names import AUDIT_CONTAINER, CONTAINERS
from cli.main import build_parser, main

pytestmark = pytest.mark.bicep

ACCOUNT = "stwaarchtest01"
GROUP = "rg-archive"
EXPIRY = "2033-11-26T10:15:00+00:00"
FAKE_AZ = """#!{python}
import json, os, sys, urllib.parse
args = sys.argv[1:]
with open(os.environ["FAKE_AZ_LOG"], "a", encoding="utf-8") as log:
    log.write(json.dumps(args) + "\\n")
path = os.environ["FAKE_AZ_STATE"]
with open(path, encoding="utf-8") as f:
    state = json.load(f)
def arg(flag):
    return args[args.index(flag) + 1]
def save():
    with open(path, "w", encoding="utf-8") as f:
        json.dump(state, f)
def lock(container, match):
    if os.environ.get("FAKE_AZ_VERSION_NOOP"):
        return
    for item in state["blobs"].get(container, []):
        if match(item):
            policy = item.get("immutabilityPolicy") or item["properties"]["immutabilityPolicy"]
            policy["policyMode"] = "Locked"
    save()
if args[:3] == ["storage", "account", "show"]:
    print(json.dumps(state["account"]))
elif args[:3] == ["storage", "account", "update"]:
    if os.environ.get("FAKE_AZ_UPDATE_FAILS"):
        print("ERROR: (AuthorizationFailed) not allowed", file=sys.stderr)
        sys.exit(1)
    if not os.environ.get("FAKE_AZ_UPDATE_NOOP"):
        state["account"]["immutabilityPolicy"]["state"] = "Locked"
        save()
    print("{{}}")
elif args[:3] == ["storage", "blob", "list"]:
    print(json.dumps(state["blobs"].get(arg("--container-name"), [])))
elif args[:4] == ["storage", "blob", "immutability-policy", "set"]:
    name = arg("--name")
    lock(arg("--container-name"), lambda i: i["name"] == name and i["isCurrentVersion"])
    print("{{}}")
elif args[:1] == ["rest"]:
    url = urllib.parse.urlsplit(arg("--url"))
    container, name = url.path.lstrip("/").split("/", 1)
    version = urllib.parse.parse_qs(url.query)["versionid"][0]
    lock(container, lambda i: i["name"] == urllib.parse.unquote(name)
         and i["versionId"] == version)
else:
    print("unexpected az call", args, file=sys.stderr)
    sys.exit(9)
"""


def account_policy(state: str = "Unlocked", days: int = 2557, enabled: bool = True) -> Any:
    return {
        "enabled": enabled,
        "immutabilityPolicy": {
            "immutabilityPeriodSinceCreationInDays": days,
            "state": state,
            "allowProtectedAppendWrites": False,
        },
    }


def version(name: str, version_id: str, *, current: bool, mode: str = "Unlocked") -> Any:
    return {
        "name": name,
        "versionId": version_id,
        "isCurrentVersion": current,
        "properties": {"immutabilityPolicy": {"expiryTime": EXPIRY, "policyMode": mode}},
    }


class FakeAz:
    def __init__(self, root: Path) -> None:
        self.log = root / "az-calls.jsonl"
        self.state_path = root / "az-state.json"
        self.set_state(account_policy(), {})

    def set_state(self, account: Any, blobs: dict[str, list[Any]]) -> None:
        self.state_path.write_text(json.dumps({"account": account, "blobs": blobs}), "utf-8")

    def state(self) -> Any:
        return json.loads(self.state_path.read_text("utf-8"))

    def calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text("utf-8").splitlines()]


@pytest.fixture
def fake_az(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeAz:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "az"
    script.write_text(FAKE_AZ.format(python=sys.executable), encoding="utf-8")
    script.chmod(0o755)
    fake = FakeAz(tmp_path)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_AZ_LOG", str(fake.log))
    monkeypatch.setenv("FAKE_AZ_STATE", str(fake.state_path))
    for name in ("FAKE_AZ_UPDATE_FAILS", "FAKE_AZ_UPDATE_NOOP", "FAKE_AZ_VERSION_NOOP"):
        monkeypatch.delenv(name, raising=False)
    return fake


AuditReader = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def audit(azurite_conn: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[AuditReader]:
    """Audit entries go to Azurite; the reader returns the ones this test wrote."""
    service = BlobServiceClient.from_connection_string(azurite_conn)
    container = service.get_container_client(AUDIT_CONTAINER)
    if not container.exists():
        container.create_container()
    before = {b.name for b in container.list_blobs()}
    target = ArchiveTarget(label="local audit", connection_string=azurite_conn)
    monkeypatch.setattr(lock_retention, "open_archive", lambda _name: Archive(target))

    def entries() -> list[dict[str, Any]]:
        new = sorted(b.name for b in container.list_blobs() if b.name not in before)
        return [json.loads(container.download_blob(n).readall()) for n in new]

    yield entries


def run(monkeypatch: pytest.MonkeyPatch, *extra: str, typed: str = "") -> int:
    monkeypatch.setattr(sys, "stdin", io.StringIO(typed))
    return main(["lock-retention", "-g", GROUP, "-n", ACCOUNT, *extra])


YES = "--yes-i-understand-this-is-irreversible"
LOCK_ARGV = [
    "storage", "account", "update", "--resource-group", GROUP, "--name", ACCOUNT,
    "--immutability-state", "Locked", "--immutability-period", "2557",
    "--allow-protected-append-writes", "false", "--output", "json",
]  # fmt: skip
SHOW_ARGV = [
    "storage", "account", "show", "--resource-group", GROUP, "--name", ACCOUNT,
    "--query", "immutableStorageWithVersioning", "--output", "json",
]  # fmt: skip
LIST_ARGVS = [
    ["storage", "blob", "list", "--account-name", ACCOUNT, "--container-name", container,
     "--include", "vi", "--num-results", "*", "--auth-mode", "login", "--output", "json"]
    for container in CONTAINERS
]  # fmt: skip
READ = [SHOW_ARGV, *LIST_ARGVS]


def test_registered_as_a_wa_archive_subcommand() -> None:
    args = build_parser().parse_args(["lock-retention", "-g", GROUP, "-n", ACCOUNT])
    assert callable(args.handler)
    assert args.retention_days == 2557
    assert args.confirmed is False
    assert args.lock_existing is False


def test_dry_run_prints_the_exact_commands_and_runs_nothing(
    fake_az: FakeAz, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(monkeypatch, "--dry-run") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "az " + " ".join(SHOW_ARGV)
    assert out[1 : 1 + len(CONTAINERS)] == [
        "az " + " ".join(a).replace(" * ", " '*' ") for a in LIST_ARGVS
    ]
    assert out[1 + len(CONTAINERS)] == "az " + " ".join(LOCK_ARGV)
    assert fake_az.calls() == []


def test_dry_run_json(
    fake_az: FakeAz, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(monkeypatch, "--dry-run", "--json", "--retention-days", "3650") == 0
    report: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert report["outcome"] == "dry-run"
    assert report["dry_run"] is True
    assert report["commands"][-1].endswith(
        "--immutability-state Locked --immutability-period 3650 "
        "--allow-protected-append-writes false --output json"
    )
    assert fake_az.calls() == []


@pytest.mark.azurite
def test_typing_the_account_name_locks_rereads_and_audits(
    fake_az: FakeAz,
    audit: AuditReader,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(monkeypatch, typed=f"{ACCOUNT}\n") == 0
    assert fake_az.calls() == [*READ, LOCK_ARGV, *READ]
    captured = capsys.readouterr()
    assert "IRREVERSIBLE" in captured.err
    assert "retentionPolicyLocked = true" in captured.out
    entries = audit()
    assert [e["phase"] for e in entries] == ["intent", "outcome"]
    assert entries[1]["result"] == "locked: account policy and every blob version read Locked"
    assert entries[1]["intent"].startswith("year="), "the outcome points at its intent"
    assert {e["action"] for e in entries} == {"lock-retention"}
    assert entries[0]["target"]["account"] == ACCOUNT
    assert entries[0]["target"]["account_policy_was"] == "Unlocked"


def test_a_wrong_name_aborts_before_locking(
    fake_az: FakeAz, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(monkeypatch, typed="yes\n") == 1
    assert fake_az.calls() == READ
    assert "confirmation did not match" in capsys.readouterr().err


def test_no_input_aborts(fake_az: FakeAz, monkeypatch: pytest.MonkeyPatch) -> None:
    assert run(monkeypatch, typed="") == 1
    assert LOCK_ARGV not in fake_az.calls()


@pytest.mark.azurite
def test_confirm_flag_locks_without_a_prompt(
    fake_az: FakeAz,
    audit: AuditReader,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(monkeypatch, YES, "--json") == 0
    assert fake_az.calls() == [*READ, LOCK_ARGV, *READ]
    captured = capsys.readouterr()
    assert "IRREVERSIBLE" not in captured.err
    assert json.loads(captured.out)["outcome"] == "locked"
    assert fake_az.state()["account"]["immutabilityPolicy"]["state"] == "Locked"


def test_already_locked_changes_nothing(
    fake_az: FakeAz, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    locked = version("a", "v1", current=True, mode="Locked")
    fake_az.set_state(account_policy(state="Locked"), {"raw": [locked]})
    assert run(monkeypatch, "--json", typed=f"{ACCOUNT}\n") == 0
    assert fake_az.calls() == READ
    assert json.loads(capsys.readouterr().out)["outcome"] == "already-locked"


@pytest.mark.parametrize("account_state", ["Unlocked", "Locked"])
def test_unlocked_versions_are_refused_without_lock_existing(
    fake_az: FakeAz,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    account_state: str,
) -> None:
    blobs = {
        "raw": [version("year=2026/a.json", "v1", current=True)],
        "records": [version("r.json", "v2", current=True),
                    version("r2.json", "v3", current=True, mode="Locked")],
    }  # fmt: skip
    fake_az.set_state(account_policy(state=account_state), blobs)
    assert run(monkeypatch, YES, "--json") == 1
    assert fake_az.calls() == READ, "nothing may be locked"
    report = json.loads(capsys.readouterr().out)
    assert report["outcome"] == "aborted"
    assert "2 blob version(s)" in report["message"]
    assert "--lock-existing" in report["message"]
    assert "year=2026" not in report["message"], "blob names stay out of the output"
    assert report["unlocked_versions"] == {"raw": 1, "records": 1}


@pytest.mark.azurite
def test_lock_existing_locks_every_version_and_verifies(
    fake_az: FakeAz,
    audit: AuditReader,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    old = version("media/x y.jpg", "2026-01-01T00:00:00.0000000Z", current=False)
    current = version("media/x y.jpg", "2026-02-01T00:00:00.0000000Z", current=True)
    # The top-level shape some az versions print.
    current["immutabilityPolicy"] = current.pop("properties")["immutabilityPolicy"]
    fake_az.set_state(account_policy(), {"media": [old, current]})
    assert run(monkeypatch, YES, "--lock-existing") == 0
    calls = fake_az.calls()
    assert calls[: len(READ) + 1] == [*READ, LOCK_ARGV]
    locking = calls[len(READ) + 1 : -len(READ)]
    rest, policy_set = locking
    assert rest[:3] == ["rest", "--method", "put"]
    url = rest[rest.index("--url") + 1]
    assert url == (
        f"https://{ACCOUNT}.blob.core.windows.net/media/media/x%20y.jpg?comp=immutabilityPolicies"
        "&versionid=2026-01-01T00%3A00%3A00.0000000Z"
    )
    assert rest[rest.index("--resource") + 1] == "https://storage.azure.com/"
    assert "x-ms-immutability-policy-mode=Locked" in rest
    assert "x-ms-immutability-policy-until-date=Sat, 26 Nov 2033 10:15:00 GMT" in rest
    assert policy_set == [
        "storage", "blob", "immutability-policy", "set", "--account-name", ACCOUNT,
        "--container-name", "media", "--name", "media/x y.jpg", "--policy-mode", "Locked",
        "--expiry-time", "2033-11-26T10:15:00Z", "--auth-mode", "login", "--output", "json",
    ]  # fmt: skip
    assert calls[-len(READ) :] == READ, "it re-reads after locking"
    err = capsys.readouterr().err
    assert "locked 2/2 blob version(s)" in err
    entries = audit()
    assert [e["phase"] for e in entries] == ["intent", "outcome"]
    assert entries[1]["result"].startswith("locked:")
    assert entries[0]["target"]["unlocked_versions"] == 2


@pytest.mark.azurite
@pytest.mark.parametrize(
    ("noop", "expected"),
    [("FAKE_AZ_VERSION_NOOP", "1 version(s) still read Unlocked (raw: 1)"),
     ("FAKE_AZ_UPDATE_NOOP", "the account policy reads 'Unlocked'")],
    ids=["version-stays-unlocked", "account-stays-unlocked"],
)  # fmt: skip
def test_a_lock_that_does_not_read_back_as_locked_fails(
    fake_az: FakeAz,
    audit: AuditReader,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    noop: str,
    expected: str,
) -> None:
    fake_az.set_state(account_policy(), {"raw": [version("a.json", "v1", current=True)]})
    monkeypatch.setenv(noop, "1")
    assert run(monkeypatch, YES, "--lock-existing") == 3
    assert expected in capsys.readouterr().err
    entries = audit()
    assert [e["phase"] for e in entries] == ["intent", "outcome"]
    assert entries[1]["result"].startswith("not-locked:") and expected in entries[1]["result"]


def test_a_different_retention_period_is_not_locked_in(
    fake_az: FakeAz, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_az.set_state(account_policy(days=30), {})
    assert run(monkeypatch, YES) == 1
    assert fake_az.calls() == [SHOW_ARGV]
    assert "30 days, not 2557" in capsys.readouterr().err


def test_an_account_without_version_immutability_is_refused(
    fake_az: FakeAz, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_az.set_state(account_policy(enabled=False), {})
    assert run(monkeypatch, YES) == 2
    assert fake_az.calls() == [SHOW_ARGV]
    assert "no account-level version immutability" in capsys.readouterr().err


@pytest.mark.azurite
def test_az_failure_is_reported_and_audited(
    fake_az: FakeAz,
    audit: AuditReader,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("FAKE_AZ_UPDATE_FAILS", "1")
    assert run(monkeypatch, YES) == 2
    assert "AuthorizationFailed" in capsys.readouterr().err
    entries = audit()
    assert [e["phase"] for e in entries] == ["intent", "outcome"]
    assert entries[1]["result"].startswith("error:")
    assert "AuthorizationFailed" in entries[1]["result"]


@pytest.mark.azurite
def test_no_audit_intent_means_no_lock(
    fake_az: FakeAz,
    azurite_conn: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    parts = dict(p.split("=", 1) for p in azurite_conn.split(";") if "=" in p)
    parts["AccountKey"] = "d3Jvbmcta2V5LXdyb25nLWtleS13cm9uZy1rZXktd3Jvbmcta2V5LXg="
    refused = ";".join(f"{k}={v}" for k, v in parts.items())
    target = ArchiveTarget(label="audit without rights", connection_string=refused)
    monkeypatch.setattr(lock_retention, "open_archive", lambda _name: Archive(target))
    assert run(monkeypatch, YES) == 1
    assert LOCK_ARGV not in fake_az.calls()
    assert "nothing was locked: the audit entry could not be written" in capsys.readouterr().err
    assert fake_az.state()["account"]["immutabilityPolicy"]["state"] == "Unlocked"


def test_missing_az_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert run(monkeypatch, YES) == 2
    assert "az) is not on PATH" in capsys.readouterr().err
