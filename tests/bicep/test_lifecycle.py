"""The archive lifecycle policy tiers only what pays for itself (issue 14).

A tier change is one billed write per blob; below about 20 KB that write costs
more than the colder tier saves over 7 years (docs/cost.md). So records, raw
bodies, seals, audit entries, dead letters and quarantined bodies (a few KB each)
never tier, and `media` makes one move. The policy is evaluated from main.bicep's
parameters down through the archive module (tests/bicep/bicep_eval.py).
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.bicep.bicep_eval import deployed_resources, main_scope, module_scope
from tests.bicep.bicep_tree import ARCHIVE, MAIN, PARAMS, bicepparam_values, body, parse

pytestmark = pytest.mark.bicep

NEVER_TIERED = ("records", "raw", "seals", "audit", "deadletter", "quarantine")
POLICY = "Microsoft.Storage/storageAccounts/managementPolicies"
TIER_ACTIONS = {"tierToCool": "Cool", "tierToCold": "Cold", "tierToArchive": "Archive"}
REMOVED = ("coolAfterDays", "archiveAfterDays", "archiveTier")


def rules(**params: Any) -> list[dict[str, Any]]:
    """The lifecycle rules deployed for these main.bicep parameters."""
    archive = module_scope(main_scope(**params), "archiveStorage")
    (policy,) = [
        r for r in deployed_resources(archive).values()
        if r["type"] == POLICY and not r["existing"]
    ]  # fmt: skip
    evaluated: list[dict[str, Any]] = archive.eval(body(policy))["properties"]["policy"]["rules"]
    return evaluated


def tiering(**params: Any) -> dict[str, tuple[str, int]]:
    """prefix -> (tier, days after creation), for every enabled rule."""
    found: dict[str, tuple[str, int]] = {}
    for rule in rules(**params):
        if not rule["enabled"]:
            continue
        definition = rule["definition"]
        base: dict[str, Any] = definition["actions"]["baseBlob"]
        assert set(definition["actions"]) == {"baseBlob"}, "no snapshot or version rules"
        assert set(base) <= set(TIER_ACTIONS), f"only tier moves, found {set(base)}"
        assert len(base) == 1, "one move per blob"
        ((action, condition),) = base.items()
        assert set(condition) == {"daysAfterCreationGreaterThan"}
        assert definition["filters"]["blobTypes"] == ["blockBlob"]
        for prefix in definition["filters"]["prefixMatch"]:
            assert prefix not in found
            found[prefix] = (TIER_ACTIONS[action], condition["daysAfterCreationGreaterThan"])
    return found


def never_tiered(found: dict[str, tuple[str, int]]) -> None:
    for prefix in found:
        container = prefix.split("/", 1)[0]
        assert container not in NEVER_TIERED, prefix
        assert container == "media", prefix


def test_defaults_tier_normal_media_to_cold_at_90_days_only() -> None:
    found = tiering()
    assert found == {"media/year=": ("Cold", 90)}
    never_tiered(found)


def test_small_media_tier_only_when_asked() -> None:
    found = tiering(tierSmallMedia=True)
    assert found == {"media/year=": ("Cold", 90), "media/small/": ("Cold", 90)}
    never_tiered(found)


def test_archive_tier_is_one_move_to_archive() -> None:
    found = tiering(mediaTier="Archive", archiveSkuName="Standard_GRS")
    assert found == {"media/year=": ("Archive", 90)}
    never_tiered(found)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"mediaTier": "Cool", "mediaTierAfterDays": 30}, {"media/year=": ("Cool", 30)}),
        (
            {"mediaTier": "Archive", "mediaTierAfterDays": 180, "tierSmallMedia": True,
             "archiveSkuName": "Standard_LRS"},
            {"media/year=": ("Archive", 180), "media/small/": ("Archive", 180)},
        ),
    ],
)  # fmt: skip
def test_the_knobs_reach_the_rule(params: dict[str, Any], expected: dict[str, Any]) -> None:
    found = tiering(**params)
    assert found == expected
    never_tiered(found)


def test_media_prefixes_match_the_blob_layout() -> None:
    # Normal media names start with the hive partition (`year=YYYY/...`), small media
    # with `small/`. prefixMatch is "<container>/<name prefix>", an include list.
    for prefix in tiering(tierSmallMedia=True):
        container, name = prefix.split("/", 1)
        assert container == "media"
        assert name in ("year=", "small/")


def test_the_old_two_step_parameters_are_gone_everywhere() -> None:
    main = parse(MAIN)["parameters"]
    assert set(REMOVED).isdisjoint(main)
    assert {"coolAfterDays", "archiveAfterDays"}.isdisjoint(parse(ARCHIVE)["parameters"])
    assert set(REMOVED).isdisjoint(bicepparam_values(PARAMS)[1])
    allowed = next(d for d in main["mediaTier"]["decorators"] if d["type"] == "allowed")
    assert allowed["argument"] == ["Cold", "Cool", "Archive"]
    assert main["mediaTier"]["default"] == "Cold"
    assert main["mediaTierAfterDays"]["default"] == 90
    assert main["tierSmallMedia"]["default"] is False
    doc = (MAIN.parents[1] / "docs" / "deploy.md").read_text(encoding="utf-8")
    for name in REMOVED:
        assert f"`{name}`" not in doc, name
    for name in ("mediaTier", "mediaTierAfterDays", "tierSmallMedia"):
        assert f"`{name}`" in doc, name


def test_the_template_says_why_and_warns_about_archive() -> None:
    text = ARCHIVE.read_text(encoding="utf-8")
    comments = " ".join(
        line.strip().lstrip("/").strip() for line in text.splitlines()
        if line.strip().startswith("//")
    )  # fmt: skip
    assert "docs/cost.md" in comments
    for container in NEVER_TIERED:
        assert container in comments
    assert re.search(r"rehydration takes hours", comments)
    assert re.search(r"daily verification cannot\s+read Archive", comments)
