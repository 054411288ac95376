"""Blob layouts the model can price, and the tiering schedule of a blob under each.

`seed`: the seed project's lifecycle JSON tiers every block blob in every container to
Cool at 90 days and Archive at 365 days. `current`: this project's rule
(bicep/modules/archive-storage.bicep) tiers only media at or above a small-media
threshold, once, to `media_tier` at `media_tier_after_days`; records, raw bodies,
seals, audit and deadletter stay Hot (a tier change costs one write operation per
blob whatever its size, and those blobs are a few KiB).

The defaults below are the Bicep parameters' defaults (mediaTier='Cold',
mediaTierAfterDays=90; keep them in step, the cost doc quotes them) and the threshold
archive.layout writes small/ media under (read from it, so it cannot drift).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from archive.cost.inputs import TIERS, InputError
from archive.layout import SMALL_MEDIA_MAX_BYTES

CONTAINERS = ("raw", "records", "media", "seals", "audit")

DEFAULT_MEDIA_TIER = "cold"
DEFAULT_MEDIA_TIER_AFTER_DAYS = 90
DEFAULT_SMALL_MEDIA_KIB = SMALL_MEDIA_MAX_BYTES / 1024
SEED_COOL_AFTER_DAYS = 90
SEED_ARCHIVE_AFTER_DAYS = 365


@dataclass(frozen=True)
class TierStep:
    tier: str
    after_days: int


Schedule = tuple[TierStep, ...]


@dataclass(frozen=True)
class Layout:
    name: str
    # Container -> the tier moves its blobs make, in order; absent means "stays Hot".
    schedules: dict[str, Schedule] = field(default_factory=dict)
    # Media smaller than this stay Hot (the `small/` prefix the rule does not match).
    small_media_kib: float = 0.0

    def schedule(self, container: str, kib: float) -> Schedule:
        if container == "media" and kib < self.small_media_kib:
            return ()
        return self.schedules.get(container, ())

    def describe(self) -> dict[str, object]:
        return {
            "name": self.name,
            "tiering": {
                c: [{"tier": s.tier, "after_days": s.after_days} for s in steps]
                for c, steps in self.schedules.items()
            },
            "small_media_kib": self.small_media_kib,
        }


def _check(steps: Schedule) -> Schedule:
    previous = 0
    for step in steps:
        if step.tier not in TIERS or step.tier == "hot":
            raise InputError(f"layout: tier must be one of cool, cold, archive: {step.tier!r}")
        if step.after_days <= previous and previous:
            raise InputError("layout: tier moves must come at increasing ages")
        if step.after_days < 0:
            raise InputError("layout: a tier move cannot come before creation")
        previous = step.after_days
    return steps


def seed_layout(
    cool_after_days: int = SEED_COOL_AFTER_DAYS, archive_after_days: int = SEED_ARCHIVE_AFTER_DAYS
) -> Layout:
    steps = _check((TierStep("cool", cool_after_days), TierStep("archive", archive_after_days)))
    return Layout("seed", {container: steps for container in CONTAINERS})


def current_layout(
    media_tier: str = DEFAULT_MEDIA_TIER,
    media_tier_after_days: int = DEFAULT_MEDIA_TIER_AFTER_DAYS,
    small_media_kib: float = DEFAULT_SMALL_MEDIA_KIB,
) -> Layout:
    steps = _check((TierStep(media_tier.lower(), media_tier_after_days),))
    return Layout("current", {"media": steps}, small_media_kib=small_media_kib)
