"""What every admin screen shares: the archive handle and worker plumbing."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from rich.markup import escape
from rich.text import Text
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from admin.connection import AdminError, Archive
from admin.durable_api import DurableApi
from admin.text import printable

T = TypeVar("T")


def archive_of(screen: Screen[Any]) -> Archive:
    archive = getattr(screen.app, "archive", None)
    if not isinstance(archive, Archive):
        raise RuntimeError("the admin screens run inside ArchiveAdminApp")
    return archive


def cells(*values: object) -> list[Text]:
    """Table cells as plain Text: archive data is never interpreted as Rich markup."""
    return [Text(printable(v)) for v in values]


def safe_markup(value: object) -> str:
    """Archive or provider text to embed in a markup string: shown, never interpreted."""
    return escape(printable(value))


class StatusLine(Static):
    """One line for 'loading', errors and outcomes."""

    def show_error(self, error: BaseException) -> None:
        text = str(error) if isinstance(error, AdminError) else f"{type(error).__name__}: {error}"
        self.update(f"[b red]error:[/] {safe_markup(text)}")


def account_short(archive: Archive) -> str:
    """The account's name alone, for the header (the dashboard shows the full label)."""
    target = archive.target
    if target.account_name:
        return target.account_name
    match = re.search(r"storage account '([^']+)'", target.label)
    return match.group(1) if match else target.label


def durable_of(screen: Screen[Any]) -> DurableApi | None:
    durable = getattr(screen.app, "durable", None)
    return durable if isinstance(durable, DurableApi) else None


def now_of(screen: Screen[Any]) -> datetime:
    clock = getattr(screen.app, "clock", None)
    return clock() if callable(clock) else datetime.now(UTC)


class AdminScreen(Screen[None]):
    @property
    def archive(self) -> Archive:
        return archive_of(self)

    @property
    def durable(self) -> DurableApi | None:
        return durable_of(self)

    def now(self) -> datetime:
        return now_of(self)

    def heading(self, screen: str) -> None:
        """Header: `wa-archive — <screen> · <account>`, short enough for 80 columns."""
        self.title = "wa-archive"
        self.sub_title = f"{screen} · {account_short(self.archive)}"

    def in_background(
        self, work: Callable[[], T], done: Callable[[T], None], status: StatusLine | None = None
    ) -> None:
        """Run storage I/O on a worker thread; hand the result back on the UI thread."""

        def run() -> None:
            try:
                result = work()
            except Exception as exc:  # shown on the screen: the app must keep running
                if status is not None:
                    self.app.call_from_thread(status.show_error, exc)
                return
            self.app.call_from_thread(done, result)

        self.run_worker(run, thread=True, exclusive=False, group=type(self).__name__)


class AdminModal(ModalScreen[T]):
    @property
    def archive(self) -> Archive:
        return archive_of(self)
