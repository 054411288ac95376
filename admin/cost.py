"""`wa-archive cost` I/O: the committed data files, the Retail Prices API, the plot.

The arithmetic is in the pure archive.cost package; this module only reads files
(admin/cost_data/ by default, shipped as package data), fetches prices over HTTP
through an injectable `fetch` (tests pass a fake), and draws the optional plot.
Every failure is a CostError whose message is one line naming the file or URL.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from archive.cost.inputs import (
    InputError,
    PriceSheet,
    StorageOps,
    parse_price_sheet,
    parse_storage_ops,
)
from archive.cost.model import Projection
from archive.cost.retail import first_url, match_prices, parse_page, refreshed_sheet, services

PRICES_FILE = "prices-eastus.json"
STORAGE_OPS_FILE = "storage_ops.json"
FETCH_TIMEOUT = 30.0
MAX_PAGES = 1000  # a guard against a NextPageLink loop; Storage has a few dozen pages

Fetch = Callable[[str], Any]


class CostError(Exception):
    """The cost command cannot run; the message is one line for the terminal."""


def _default(name: str) -> Path:
    return Path(str(resources.files("admin") / "cost_data" / name))


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CostError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CostError(f"{path}: cannot read it ({exc.__class__.__name__})") from None
    except json.JSONDecodeError as exc:
        raise CostError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None


def load_prices(path: Path | None = None) -> tuple[Path, Any, PriceSheet]:
    """(file, raw JSON, parsed sheet) of `path` or the committed East US sheet."""
    path = path or _default(PRICES_FILE)
    raw = _read_json(path)
    try:
        return path, raw, parse_price_sheet(raw)
    except InputError as exc:
        raise CostError(f"{path}: {exc}") from None


def load_storage_ops(path: Path | None = None) -> tuple[Path, StorageOps]:
    path = path or _default(STORAGE_OPS_FILE)
    try:
        return path, parse_storage_ops(_read_json(path))
    except InputError as exc:
        raise CostError(f"{path}: {exc}") from None


def fetch_json(url: str) -> Any:
    """GET `url` as JSON; any network or decoding failure is one CostError line."""
    # https only in practice: the URLs are the API's own (first_url, NextPageLink).
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT) as response:  # noqa: S310
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise CostError(f"Azure Retail Prices API: HTTP {exc.code} for {url}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CostError(
            f"cannot reach the Azure Retail Prices API ({url.split('?')[0]}): "
            f"{reason}; use the committed sheet (drop --refresh-prices)"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise CostError(f"Azure Retail Prices API: the response to {url} is not JSON") from None


def refresh_prices(
    raw_sheet: Any, region: str, fetch: Fetch | None = None, today: str | None = None
) -> tuple[dict[str, Any], list[str]]:
    """The sheet with every metered price the API has for `region`, and the keys it lacks.

    One query per serviceName the sheet's meters name, following NextPageLink. `fetch`
    (URL -> parsed JSON) defaults to a real HTTP GET.
    """
    fetch = fetch or fetch_json
    items = []
    for service in services(raw_sheet):
        url: str | None = first_url(service, region)
        for _ in range(MAX_PAGES):
            if url is None:
                break
            try:
                page_items, url = parse_page(fetch(url))
            except InputError as exc:
                raise CostError(f"Azure Retail Prices API: {exc}") from None
            items.extend(page_items)
    values, missing = match_prices(raw_sheet, items)
    day = today or datetime.now(UTC).date().isoformat()
    return refreshed_sheet(raw_sheet, values, region, day), missing


def save_prices(path: Path, sheet: dict[str, Any]) -> None:
    try:
        path.write_text(json.dumps(sheet, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise CostError(f"{path}: cannot write it ({exc.strerror})") from None


def plot(projections: Sequence[Projection], path: Path, currency: str) -> None:
    """Cumulative cost of each layout over the years, as a PNG."""
    import matplotlib  # imported here: only --plot pays for it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.2))
    try:
        for projection in projections:
            years = [y.year for y in projection.years]
            axes.plot(years, projection.cumulative(), marker="o", label=projection.layout.name)
        axes.set_xlabel("year")
        axes.set_ylabel(f"cumulative cost ({currency})")
        axes.set_title("wa-archive: cumulative cost by blob layout")
        axes.grid(True, alpha=0.3)
        axes.legend()
        figure.tight_layout()
        figure.savefig(path, format="png")
    except OSError as exc:
        raise CostError(f"{path}: cannot write the plot ({exc.strerror})") from None
    finally:
        plt.close(figure)
