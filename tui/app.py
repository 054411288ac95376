"""`wa-archive tui`: the admin app. Screens are modes; storage I/O runs in workers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.screen import Screen

from admin.connection import Archive
from admin.durable_api import DurableApi
from tui.commands import ScreensProvider
from tui.registry import SCREENS
from tui.screens.help import HelpScreen


class ArchiveAdminApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "wa-archive"
    COMMANDS = App.COMMANDS | {ScreensProvider}
    MODES: ClassVar[dict[str, str | Callable[[], Screen[Any]]]] = {
        spec.mode: spec.factory for spec in SCREENS
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        *(Binding(spec.key, f"switch_mode('{spec.mode}')", spec.name) for spec in SCREENS),
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        archive: Archive,
        *,
        refresh_seconds: float = 10.0,
        durable: DurableApi | None = None,
        clock: Callable[[], datetime] | None = None,
        metrics_folder: Path | None = None,
    ) -> None:
        super().__init__()
        self.archive = archive
        # Local metric snapshots (`wa-archive dev`, admin.metrics_local); None: no trends.
        self.metrics_folder = metrics_folder
        self.refresh_seconds = refresh_seconds
        self.durable = durable  # None: failed orchestrations are not shown
        # Injectable so screenshots and snapshot tests show a fixed "today" and ages.
        self.clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))

    def on_mount(self) -> None:
        self.switch_mode("dashboard")

    def action_help(self) -> None:
        self.push_screen(HelpScreen())
