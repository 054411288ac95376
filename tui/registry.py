"""The app's screens in one place: mode, key, palette entry. A new screen (evidence,
holds, review, export) is one entry here; the app's modes and key bindings and the
command palette are all made from this list."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from textual.screen import Screen

from tui.screens.audit import AuditScreen
from tui.screens.dashboard import DashboardScreen
from tui.screens.evidence import EvidenceScreen
from tui.screens.failures import FailuresScreen
from tui.screens.holds import HoldsScreen
from tui.screens.review import ReviewScreen
from tui.screens.search import SearchScreen


@dataclass(frozen=True)
class ScreenSpec:
    mode: str
    key: str
    name: str  # footer and palette
    help: str  # palette
    factory: Callable[[], Screen[Any]]


SCREENS: tuple[ScreenSpec, ...] = (
    ScreenSpec("dashboard", "d", "Dashboard", "backlog, records today, gaps and conflicts",
               DashboardScreen),
    ScreenSpec("failures", "f", "Failures",
               "poison messages, orchestrations, media gaps, conflicts, unparseable",
               FailuresScreen),
    ScreenSpec("search", "s", "Search", "search the index by participant, date, type",
               SearchScreen),
    ScreenSpec("audit", "a", "Audit", "who did what", AuditScreen),
    ScreenSpec("evidence", "e", "Evidence",
               "daily signed seals and the latest verification run", EvidenceScreen),
    ScreenSpec("holds", "h", "Holds", "legal-hold matters: place, release", HoldsScreen),
    ScreenSpec("review", "v", "Review",
               "lexicon flags in context: mark reviewed, escalated, false positive",
               ReviewScreen),
)
