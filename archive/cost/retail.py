"""The Azure Retail Prices API (https://prices.azure.com/api/retail/prices): the query,
the page shape, and how its meters map onto the price sheet's keys.

A page is `{"BillingCurrency", "CustomerEntityId", "CustomerEntityType", "Items": [...],
"NextPageLink": url | null, "Count": n}`; an item carries `retailPrice`,
`unitOfMeasure` ("10K", "1 GB/Month", "1M", "1 GB Second", ...), `tierMinimumUnits`,
`type` ("Consumption", "Reservation", ...), `serviceName`, `productName`, `skuName`,
`meterName` and `armRegionName`. A sheet entry names its meter by those four names;
the first-tier Consumption item that matches gives its price, rescaled from the
item's unit to the sheet's (per 10,000, per million, per GB).
"""

from __future__ import annotations

import copy
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from archive.cost.inputs import InputError

API = "https://prices.azure.com/api/retail/prices"
API_VERSION = "2023-01-01-preview"
MATCH_FIELDS = ("serviceName", "productName", "skuName", "meterName")
_UNIT = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([KM]?)\b\s*(.*)$")
_SCALE = {"": 1.0, "K": 1e3, "M": 1e6}


@dataclass(frozen=True)
class RetailItem:
    service: str
    product: str
    sku: str
    meter: str
    region: str
    price: float
    unit: str
    tier_minimum: float
    type: str

    def names(self) -> dict[str, str]:
        return {
            "serviceName": self.service,
            "productName": self.product,
            "skuName": self.sku,
            "meterName": self.meter,
        }


def first_url(service: str, region: str) -> str:
    """The first page of `service`'s consumption prices in `region`."""
    odata = (
        f"serviceName eq '{_quote(service)}' and armRegionName eq '{_quote(region)}' "
        "and priceType eq 'Consumption'"
    )
    return f"{API}?{urllib.parse.urlencode({'api-version': API_VERSION, '$filter': odata})}"


def _quote(value: str) -> str:
    return value.replace("'", "''")  # OData string literal escaping


def parse_page(page: Any) -> tuple[list[RetailItem], str | None]:
    """The items of one API page and the next page's URL (None on the last page)."""
    if not isinstance(page, Mapping) or not isinstance(page.get("Items"), list):
        raise InputError("retail prices: the response has no 'Items' list")
    items = []
    for index, raw in enumerate(page["Items"]):
        where = f"retail prices: Items[{index}]"
        if not isinstance(raw, Mapping):
            raise InputError(f"{where}: not an object")
        price = raw.get("retailPrice")
        if isinstance(price, bool) or not isinstance(price, int | float):
            raise InputError(f"{where}: field 'retailPrice' is not a number")
        items.append(
            RetailItem(
                service=str(raw.get("serviceName", "")),
                product=str(raw.get("productName", "")),
                sku=str(raw.get("skuName", "")),
                meter=str(raw.get("meterName", "")),
                region=str(raw.get("armRegionName", "")),
                price=float(price),
                unit=str(raw.get("unitOfMeasure", "")),
                tier_minimum=float(raw.get("tierMinimumUnits") or 0.0),
                type=str(raw.get("type", "")),
            )
        )
    link = page.get("NextPageLink")
    if link is not None and not isinstance(link, str):
        raise InputError("retail prices: field 'NextPageLink' is not a string")
    return items, link or None


def unit_scale(unit_of_measure: str) -> tuple[float, bool]:
    """("10K" -> 10,000 units, "1 GB/Month" -> 1 GB): (how many, is it a GB unit?)."""
    found = _UNIT.match(unit_of_measure)
    if not found:
        raise InputError(f"retail prices: unknown unitOfMeasure {unit_of_measure!r}")
    number, suffix, rest = found.groups()
    return float(number) * _SCALE[suffix], "GB" in rest.upper()


def sheet_scale(key: str) -> tuple[float, bool]:
    """How many units a sheet key's price is for, and whether they are GB."""
    if key.endswith("_per_10k"):
        return 1e4, False
    if key.endswith("_per_million") or key.endswith("_per_million_actions"):
        return 1e6, False
    if key.endswith(("_gb_month", "_per_gb", "_gb_second")):
        return 1.0, True
    raise InputError(f"price sheet: {key} has no unit the API can refresh")


def match_prices(
    sheet: Mapping[str, Any], items: Iterable[RetailItem]
) -> tuple[dict[str, float], list[str]]:
    """New values for the sheet's metered keys, and the metered keys nothing matched."""
    candidates = [i for i in items if i.type == "Consumption" and i.tier_minimum == 0]
    found: dict[str, float] = {}
    missing: list[str] = []
    for key, entry in sheet.get("prices", {}).items():
        meter = entry.get("meter") if isinstance(entry, Mapping) else None
        if not meter:
            continue
        want = {f: meter[f] for f in MATCH_FIELDS if f in meter}
        hits = [i for i in candidates if all(i.names()[f] == v for f, v in want.items())]
        if not hits:
            missing.append(key)
            continue
        count, per_gb = unit_scale(hits[0].unit)
        sheet_count, sheet_gb = sheet_scale(key)
        if per_gb != sheet_gb:
            missing.append(key)
            continue
        found[key] = hits[0].price / count * sheet_count
    return found, missing


def refreshed_sheet(
    sheet: Mapping[str, Any], values: Mapping[str, float], region: str, retrieved: str
) -> dict[str, Any]:
    """A copy of `sheet` with `values` filled in from the API (status confirmed)."""
    out = copy.deepcopy(dict(sheet))
    out["region"] = region
    out["retrieved"] = retrieved
    out["source"] = f"Azure Retail Prices API ({API}), region {region}, retrieved {retrieved}"
    for key, value in values.items():
        entry = out["prices"][key]
        entry["value"] = value
        entry["status"] = "confirmed"
        entry["source"] = f"Azure Retail Prices API, {retrieved}"
    return out


def services(sheet: Mapping[str, Any]) -> list[str]:
    """The serviceName values the sheet's meters need, one API query each."""
    names = {
        entry["meter"]["serviceName"]
        for entry in sheet.get("prices", {}).values()
        if isinstance(entry, Mapping) and entry.get("meter") and "serviceName" in entry["meter"]
    }
    return sorted(names)
