"""`wa-archive cost` end to end through the CLI: committed data files, no Azure."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from cli.main import main

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SHEET = ROOT / "admin" / "cost_data" / "prices-eastus.json"


def committed_text_calls() -> int:
    """A text event's calls in the committed benchmark data, summed over its stages."""
    data = json.loads((ROOT / "admin" / "cost_data" / "storage_ops.json").read_text())
    stages = data["kinds"]["text"]["stages"]
    return sum(n for services in stages.values() for ops in services.values() for n in ops.values())


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["cost", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_json_prints_both_layouts(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--events-per-day", "1000000", "--json")
    assert code == 0
    doc: dict[str, Any] = json.loads(out)
    seed, current = doc["layouts"]["seed"], doc["layouts"]["current"]
    assert len(seed["years"]) == len(current["years"]) == 7
    assert seed["total"] == pytest.approx(sum(y["total"] for y in seed["years"]))
    ratio = doc["ratio_seed_to_current"]
    assert ratio["total"] == pytest.approx(seed["total"] / current["total"])
    # The tier-move category is where tiering every blob costs most; the total ratio is
    # whatever the other categories leave (docs/cost.md reports it as it is).
    assert ratio["tier_moves"] >= 4
    assert current["total"] < seed["total"]
    assert doc["break_even"]["tier"] == "cold" and doc["break_even"]["kib"] > 0
    # The counts are the committed benchmark data, whatever the latest run measured.
    assert doc["storage_ops"]["calls_per_event"]["text"] == committed_text_calls()


def test_one_layout_and_text_tables(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--layout", "seed", "--years", "3", "--growth", "10%")
    assert code == 0
    assert "layout seed, by year (USD)" in out and "layout current" not in out
    assert "year 3" in out and "3-year total by category" in out
    assert "tier moves (Set Blob Tier)" in out and "break-even" in out


def test_missing_price_file_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "nope.json"
    code, out, err = run(capsys, "--prices", str(missing))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and str(missing) in err and "no such file" in err


def test_invalid_price_names_file_and_field(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sheet = json.loads(SHEET.read_text(encoding="utf-8"))
    sheet["prices"]["blob.hot.write_per_10k"]["value"] = -1
    bad = tmp_path / "prices.json"
    bad.write_text(json.dumps(sheet), encoding="utf-8")
    code, _, err = run(capsys, "--prices", str(bad))
    assert code == 2 and err.count("\n") == 1
    assert str(bad) in err and "prices.blob.hot.write_per_10k.value" in err


def test_invalid_storage_ops_names_the_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "ops.json"
    bad.write_text("{not json", encoding="utf-8")
    code, _, err = run(capsys, "--storage-ops", str(bad))
    assert code == 2 and str(bad) in err and "not valid JSON" in err


def test_unknown_dts_price_says_what_to_fill_in(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--durable-backend", "dts")
    assert code == 2 and "durable.dts_consumption_per_million_actions is unknown" in err


def test_refresh_prices_without_network_fails_cleanly(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def offline(*args: Any, **kwargs: Any) -> Any:
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    code, out, err = run(capsys, "--refresh-prices")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "cannot reach the Azure Retail Prices API (https://prices.azure.com/" in err


def test_plot_writes_a_png(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "cost.png"
    code, out, _ = run(capsys, "--plot", str(target))
    assert code == 0 and f"plot: {target}" in out
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
