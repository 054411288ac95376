"""checkov's Bicep policies pass; every suppression carries a written reason.

checkov lives in its own virtualenv (.venv-checkov, made by scripts/bootstrap)
because its pinned dependencies would otherwise fight the project's.
"""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import pytest

from tests.bicep.bicep_tree import BICEP_DIR, REPO, bicep_files

pytestmark = pytest.mark.bicep

CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"
SKIP = re.compile(r"//\s*checkov:skip=(CKV2?_[A-Z]+_\d+)(?::(.*))?")
MIN_REASON = 30


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    assert CHECKOV.exists(), "run scripts/bootstrap: it installs checkov into .venv-checkov"
    completed = subprocess.run(
        [str(CHECKOV), "--framework", "bicep", "--directory", str(BICEP_DIR),
         "--output", "json", "--skip-download"],
        capture_output=True, text=True, timeout=240, check=False, cwd=REPO,
    )  # fmt: skip
    assert completed.stdout.strip(), completed.stderr[-2000:]
    data = json.loads(completed.stdout)
    results: dict[str, Any] = data if isinstance(data, dict) else data[0]
    return results


def test_checkov_finds_no_failures(report: dict[str, Any]) -> None:
    failed = [
        f"{c['check_id']} {c['file_path']} {c['resource']}"
        for c in report["results"]["failed_checks"]
    ]
    assert failed == []
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["passed"] > 20


def test_checkov_scanned_the_modules(report: dict[str, Any]) -> None:
    results = report["results"]
    scanned = {c["file_path"] for key in ("passed_checks", "skipped_checks") for c in results[key]}
    for module in ("archive-storage", "host-storage", "keyvault", "function-app"):
        assert f"/modules/{module}.bicep" in scanned


def test_every_skip_has_a_written_reason(report: dict[str, Any]) -> None:
    for check in report["results"]["skipped_checks"]:
        reason = check["check_result"].get("suppress_comment", "")
        assert len(reason) >= MIN_REASON, check["check_id"]
        assert reason != "No comment provided"


def test_every_skip_comment_is_used_and_justified(report: dict[str, Any]) -> None:
    used = {(c["file_path"], c["check_id"]) for c in report["results"]["skipped_checks"]}
    for path in bicep_files():
        for check_id, reason in SKIP.findall(path.read_text(encoding="utf-8")):
            relative = "/" + str(path.relative_to(BICEP_DIR))
            assert len(reason.strip()) >= MIN_REASON, f"{relative}: {check_id} needs a reason"
            assert (relative, check_id) in used, f"{relative}: stale skip {check_id}"
