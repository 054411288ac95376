"""The cost model's data inputs: the committed price sheet and call counts, the Azure
Retail Prices API (page shape, paging, unit conversion, no network), and the
bench's operation classes."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from admin import cost
from archive.cost.inputs import REQUIRED_PRICES, STATUSES, InputError, parse_price_sheet
from archive.cost.retail import first_url, match_prices, parse_page, unit_scale
from bench.counting_proxy import Call
from bench.storage_ops import DATA_FILE, kind_data, op_class

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SHEET = ROOT / "admin" / "cost_data" / "prices-eastus.json"


def item(meter: str, sku: str, price: float, unit: str, **extra: Any) -> dict[str, Any]:
    """One item as the API returns it (field set from the Retail Prices API reference;
    the prices in these tests are made up)."""
    return {
        "currencyCode": "USD",
        "tierMinimumUnits": 0.0,
        "retailPrice": price,
        "unitPrice": price,
        "armRegionName": "eastus",
        "location": "US East",
        "effectiveStartDate": "2024-01-01T00:00:00Z",
        "meterId": "00000000-0000-0000-0000-000000000000",
        "meterName": meter,
        "productId": "DZH318Z0BNVX",
        "skuId": "DZH318Z0BNVX/000D",
        "productName": "General Block Blob v2",
        "skuName": sku,
        "serviceName": "Storage",
        "serviceId": "DZH317F1HKN0",
        "serviceFamily": "Storage",
        "unitOfMeasure": unit,
        "type": "Consumption",
        "isPrimaryMeterRegion": True,
        "armSkuName": "",
        **extra,
    }


def page(items: list[dict[str, Any]], next_link: str | None) -> dict[str, Any]:
    return {
        "BillingCurrency": "USD",
        "CustomerEntityId": "Default",
        "CustomerEntityType": "Retail",
        "Items": items,
        "NextPageLink": next_link,
        "Count": len(items),
    }


def committed_sheet() -> Any:
    return json.loads(SHEET.read_text(encoding="utf-8"))


def test_committed_sheet_parses_and_names_its_sources() -> None:
    raw = committed_sheet()
    sheet = parse_price_sheet(raw)
    assert sheet.source and sheet.retrieved == "2026-12-04" and sheet.region == "eastus"
    assert set(REQUIRED_PRICES) <= set(sheet.prices)
    for price in sheet.prices.values():
        assert price.status in STATUSES and price.source, price.key
    # The one price nobody could find is marked so, not invented.
    assert sheet.prices["durable.dts_consumption_per_million_actions"].value is None


def test_a_missing_price_names_the_field() -> None:
    raw = committed_sheet()
    del raw["prices"]["blob.cold.write_per_10k"]
    with pytest.raises(InputError, match=r"prices\.blob\.cold\.write_per_10k"):
        parse_price_sheet(raw)
    raw = committed_sheet()
    raw["prices"]["table.transactions_per_10k"]["value"] = "cheap"
    with pytest.raises(InputError, match=r"table\.transactions_per_10k\.value: not a number"):
        parse_price_sheet(raw)


def test_committed_storage_ops_are_consistent() -> None:
    # Not pinned to today's counts: bench.storage_ops --write-data rewrites the file.
    raw = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    _, ops = cost.load_storage_ops()
    for kind in ("text", "image", "status", "duplicate"):
        assert ops.kinds[kind].count() == raw["kinds"][kind]["total"] > 0, kind
    assert ops.kinds["text"].count("table", stage_prefix="3") > 0  # devhost's Durable calls
    assert ops.kinds["image"].count("blob", stage_prefix="6") > 0  # the media item
    assert DATA_FILE == ROOT / "admin" / "cost_data" / "storage_ops.json"


def call(service: str, method: str, operation: str = "blob") -> Call:
    return Call(service, "r", method, operation, empty=False, at=0.0)


def test_bench_classes_calls_as_the_bill_does() -> None:
    assert op_class(call("blob", "PUT")) == "write"
    assert op_class(call("blob", "HEAD")) == "read"
    assert op_class(call("blob", "GET", "list")) == "list"
    assert op_class(call("queue", "POST", "messages")) == "write"
    assert op_class(call("queue", "DELETE", "messages")) == "delete"
    assert op_class(call("table", "PATCH", "entity")) == "write"
    assert op_class(call("table", "GET", "entity")) == "read"
    calls = [
        call("queue", "POST", "messages"),  # an unknown queue: stage "other"
        Call("blob", "records", "PUT", "blob", empty=False, at=0.0),
        Call("queue", "ingest", "GET", "messages", empty=True, at=0.0),  # idle poll: not counted
    ]
    data = kind_data(calls)
    assert data["total"] == 2
    assert data["stages"] == {"4 record": {"blob": {"write": 1}}, "other": {"queue": {"write": 1}}}


def test_units_rescale() -> None:
    assert unit_scale("10K") == (10_000, False)
    assert unit_scale("1 GB/Month") == (1, True)
    assert unit_scale("1M") == (1_000_000, False)
    assert unit_scale("100 GB") == (100, True)
    with pytest.raises(InputError, match="unitOfMeasure"):
        unit_scale("per fortnight")


def test_first_url_filters_by_service_region_and_consumption() -> None:
    url = first_url("Storage", "eastus")
    assert url.startswith("https://prices.azure.com/api/retail/prices?")
    assert "%24filter=serviceName+eq+%27Storage%27+and+armRegionName+eq+%27eastus%27" in url
    assert "priceType+eq+%27Consumption%27" in url


def test_parse_page_and_match_a_realistic_sample() -> None:
    sample = page(
        [
            item("Hot LRS Data Stored", "Hot LRS", 0.02, "1 GB/Month"),
            # The next volume tier (over 50 TB) and a reservation: neither is used.
            item("Hot LRS Data Stored", "Hot LRS", 0.019, "1 GB/Month", tierMinimumUnits=51200.0),
            item("Hot LRS Data Stored", "Hot LRS", 0.001, "1 GB/Month", type="Reservation"),
            item("Cold LRS Write Operations", "Cold LRS", 0.2, "10K"),
            item("Hot LRS Write Operations", "Hot LRS", 0.0000065, "1"),
        ],
        "https://prices.azure.com:443/api/retail/prices?$filter=x&$skip=100",
    )
    items, next_link = parse_page(sample)
    assert len(items) == 5 and next_link and next_link.endswith("$skip=100")
    values, missing = match_prices(committed_sheet(), items)
    assert values["blob.hot.capacity_gb_month"] == pytest.approx(0.02)
    assert values["blob.cold.write_per_10k"] == pytest.approx(0.2)
    assert values["blob.hot.write_per_10k"] == pytest.approx(0.065)  # $0.0000065 each
    assert "blob.archive.capacity_gb_month" in missing


def test_parse_page_rejects_a_page_without_items() -> None:
    with pytest.raises(InputError, match="Items"):
        parse_page({"error": {"code": "BadRequest"}})
    with pytest.raises(InputError, match=r"Items\[0\].*retailPrice"):
        parse_page(page([{"retailPrice": "free"}], None))


def test_refresh_follows_next_page_links() -> None:
    seen: list[str] = []
    second = "https://prices.azure.com/api/retail/prices?page=2"

    def fetch(url: str) -> Any:
        seen.append(url)
        if url == second:
            return page([item("Cold LRS Data Stored", "Cold LRS", 0.004, "1 GB/Month")], None)
        if "Storage" in url:
            return page([item("Hot LRS Data Stored", "Hot LRS", 0.02, "1 GB/Month")], second)
        return page([], None)

    sheet, missing = cost.refresh_prices(committed_sheet(), "eastus", fetch, today="2027-01-02")
    assert second in seen
    assert sheet["prices"]["blob.cold.capacity_gb_month"]["value"] == 0.004
    assert sheet["prices"]["blob.cold.capacity_gb_month"]["status"] == "confirmed"
    assert sheet["retrieved"] == "2027-01-02" and "Retail Prices API" in sheet["source"]
    assert "keyvault.operations_per_10k" in missing  # kept from the committed sheet
    parse_price_sheet(sheet)  # still a valid sheet


class _Pages(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith("/broken"):
            self.send_response(500)
            self.end_headers()
            return
        body = json.dumps(
            page([item("Hot LRS Data Stored", "Hot LRS", 0.02, "1 GB/Month")], None)
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def fake_api() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Pages)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_fetch_json_against_a_local_fake_server(fake_api: str) -> None:
    items, next_link = parse_page(cost.fetch_json(fake_api + "/api/retail/prices"))
    assert items[0].meter == "Hot LRS Data Stored" and next_link is None
    with pytest.raises(cost.CostError, match="HTTP 500"):
        cost.fetch_json(fake_api + "/broken")


def test_no_network_is_one_clear_line(fake_api: str) -> None:
    closed = fake_api.rsplit(":", 1)[0] + ":9"  # discard port: nothing listens
    with pytest.raises(cost.CostError) as error:
        cost.fetch_json(closed + "/api/retail/prices")
    message = str(error.value)
    assert "cannot reach the Azure Retail Prices API" in message and "\n" not in message
