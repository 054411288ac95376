"""`wa-archive` admin commands with --json, on real Azurite seeded by the pipeline."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from admin.connection import Archive
from admin.poison import peek_poison
from archive.names import SETTING_ARCHIVE_STORAGE
from cli.main import main
from tests.admin import seed
from tests.support import webhooks

pytestmark = pytest.mark.azurite

T0 = datetime(2025, 8, 4, 8, 0, tzinfo=UTC)


def ts(minutes: float) -> int:
    return int((T0 + timedelta(minutes=minutes)).timestamp())


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code = main([*argv, "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out)


def test_backlog_and_failures_json(archive: Archive, capsys: pytest.CaptureFixture[str]) -> None:
    envelope = seed.poison(webhooks.text_message(seed.new_wamid(), seed.new_customer(), ts(0)))
    data = run_json(capsys, "backlog")
    assert data["poison_depth"] == 1 and data["ingest_depth"] == 0
    failures = run_json(capsys, "failures")
    assert failures[0]["kind"] == "poison" and failures[0]["detail"]["sha256"] == envelope.sha256


def test_search_show_replay_and_audit_json(
    archive: Archive, capsys: pytest.CaptureFixture[str]
) -> None:
    customer = seed.new_customer()
    wamids = [seed.new_wamid() for _ in range(3)]
    for minute, wamid in enumerate(wamids):
        seed.archive_body(webhooks.text_message(wamid, customer, ts(minute)))
    seed.archive_body(webhooks.status(wamids[0], customer, "delivered", ts(10)))

    page = run_json(capsys, "search", "--participant", customer, "--from", "2025-08-04",
                    "--to", "2025-08-04", "--limit", "2")
    assert [r["message_id"] for r in page["rows"]] == [wamids[2], wamids[1]]
    rest = run_json(capsys, "search", "--participant", customer, "--from", "2025-08-04",
                    "--to", "2025-08-04", "--page", page["continuation"])
    assert [r["message_id"] for r in rest["rows"]] == [wamids[0]]

    shown = run_json(capsys, "show", wamids[0])
    assert [t["status"] for t in shown["timeline"]] == ["delivered"]
    assert shown["record"]["message_id"] == wamids[0]

    seed.poison(webhooks.text_message(seed.new_wamid(), customer, ts(20)))
    (poisoned,) = peek_poison(archive)
    replayed = run_json(capsys, "replay", "--id", poisoned.message_id)
    assert replayed["replayed"] == [poisoned.message_id]

    audit = [a for a in run_json(capsys, "audit") if a.get("phase") == "outcome"]
    assert [a["action"] for a in audit[:4]] == ["replay", "show", "search", "search"]
    assert all(a["service_time"] and a["intent"] for a in audit[:4])


def test_human_output_and_clear_errors(
    archive: Archive,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    assert main(["backlog"]) == 0
    assert "ingest-poison: ~0 message(s)" in capsys.readouterr().out

    assert main(["show", "wamid.nowhere"]) == 2
    assert "not in the index" in capsys.readouterr().err

    monkeypatch.delenv(SETTING_ARCHIVE_STORAGE)
    monkeypatch.delenv("WA_ARCHIVE_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("admin.connection._REPO_ROOT", tmp_path)
    assert main(["failures"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("wa-archive failures: no archive account configured")
    assert "Traceback" not in err
