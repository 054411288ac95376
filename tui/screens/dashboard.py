"""Dashboard: health (as `wa-archive status`), backlog, today's records, gaps and
conflicts; refreshed on an interval."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Grid
from textual.widgets import Footer, Header, Static

from admin.dashboard import Dashboard, dashboard
from admin.failures import KIND_LABELS
from admin.metrics_local import series
from admin.status import seal_schedule, status
from archive.health import Health, Thresholds
from tui.screens.base import AdminScreen, StatusLine, safe_markup


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


# Failure kinds with a tile of their own; every other kind is listed on one line below.
TILED = ("media_unavailable", "conflict", "unparseable", "webhook_error")


def _label(kind: str) -> str:
    return KIND_LABELS.get(kind, kind.replace("_", " "))


def _other_failures(data: Dashboard) -> str:
    parts = [
        f"{'[b red]' if n else ''}{safe_markup(_label(kind))} {n}"
        f"{'[/]' if n else ''}"
        for kind, n in data.failures.items()
        if kind not in TILED
    ]
    return "[b]other open failures[/]\n" + ("   ".join(parts) or "-")


def _orchestrations(data: Dashboard) -> str:
    heading = "[b]Orchestrations by runtime status, last 24 h[/]"
    if data.orchestrations is None:
        return f"{heading}\n{safe_markup(data.orchestrations_note or '-')}"
    counts = "   ".join(
        f"{'[b red]' if status == 'Failed' and n else ''}{status} {n}"
        f"{'[/]' if status == 'Failed' and n else ''}"
        for status, n in data.orchestrations.items()
    )
    return f"{heading}\n{counts}"


# Trends from the local metrics (`wa-archive dev` writes them; admin.metrics_local):
# (label, metric), each drawn over the last TREND_MINUTES, one character a minute.
TRENDS = (("archived/min", "wa_archive.events.archived"), ("lag s", "wa_archive.lag.receipt"))
TREND_MINUTES = 30
_BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float]) -> str:
    """Text sparkline scaled to the largest value (all zero: the lowest bar)."""
    top = max(values, default=0.0)
    if top <= 0:
        return _BARS[0] * len(values)
    return "".join(_BARS[min(int(v / top * (len(_BARS) - 1) + 0.5), len(_BARS) - 1)]
                   for v in values)


def trends_markup(folder: Path | None) -> str:
    """One line: each trend's sparkline and its latest value (never message content)."""
    if folder is None:
        return "[dim]trends: no local metrics (wa-archive dev writes them)[/]"
    parts = []
    for label, metric in TRENDS:
        values = series(folder, metric, TREND_MINUTES)
        parts.append(f"{label} {sparkline(values)} [b]{values[-1]:.0f}[/]")
    return f"last {TREND_MINUTES} min  " + "  ".join(parts)


LEVEL_STYLES = (("crit", "CRIT", "b red"), ("warn", "WARN", "b yellow"), ("ok", "OK", "green"))


def health_markup(health: Health) -> str:
    """One line per level present, worst first: problems with their summary, OK by name."""
    lines = []
    for level, word, style in LEVEL_STYLES:
        checks = [c for c in health.checks if c.level == level]
        if not checks:
            continue
        if level == "ok":
            body = f"{len(checks)} of {len(health.checks)}: " + " ".join(c.name for c in checks)
        else:
            body = " · ".join(f"{c.name}: {c.summary}" for c in checks)
        lines.append(f"[{style}]{word:<4}[/] [{style}]{safe_markup(body)}[/]")
    return "\n".join(lines)


class DashboardScreen(AdminScreen):
    BINDINGS = [("r", "refresh", "Refresh")]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("health: -", id="health")
        with Grid(id="tiles"):
            yield Static("ingest\n-", id="ingest", classes="tile")
            yield Static("oldest\n-", id="oldest", classes="tile")
            yield Static("poison\n-", id="poison", classes="tile")
            yield Static("records\n-", id="records", classes="tile")
            yield Static("media gaps\n-", id="gaps", classes="tile")
            yield Static("conflicts\n-", id="conflicts", classes="tile")
            yield Static("unparseable\n-", id="unparseable", classes="tile")
            yield Static("webhook errors\n-", id="webhook_errors", classes="tile")
        yield Static("[b]other open failures[/]\n-", id="other_failures")
        yield Static("orchestrations, last 24 h\n-", id="orchestrations")
        yield Static("trends: -", id="trends")
        yield Static(Text(self.archive.target.label), id="target", markup=False)
        yield StatusLine("loading...", id="status")
        yield Footer()

    def on_mount(self) -> None:
        self.heading("dashboard")
        interval = float(getattr(self.app, "refresh_seconds", 10.0))
        self.set_interval(interval, self.action_refresh)
        self.action_refresh()

    def action_refresh(self) -> None:
        now, durable = self.now(), self.durable
        self.in_background(
            lambda: dashboard(self.archive, now, durable),
            self.show,
            self.query_one("#status", StatusLine),
        )
        thresholds = Thresholds(seal_schedule=seal_schedule())
        self.in_background(
            lambda: status(self.archive, now, thresholds),
            self.show_health,
            self.query_one("#status", StatusLine),
        )
        folder = getattr(self.app, "metrics_folder", None)
        self.in_background(
            lambda: trends_markup(folder),
            self.query_one("#trends", Static).update,
            self.query_one("#status", StatusLine),
        )

    def show_health(self, health: Health) -> None:
        self.query_one("#health", Static).update(health_markup(health))

    def _tile(self, tile_id: str, label: str, value: object) -> None:
        self.query_one(f"#{tile_id}", Static).update(f"{label}\n[b]{value}[/]")

    def show(self, data: Dashboard) -> None:
        more = "+" if data.capped else ""
        self._tile("ingest", "ingest", f"~{data.backlog.ingest_depth}")
        self._tile("oldest", "oldest", _age(data.backlog.oldest_age_seconds))
        self._tile("poison", "poison", data.backlog.poison_depth)
        self._tile("records", "records today", f"{data.records_today}{more}")
        # The day is the tile's subtitle: the value is the count.
        self.query_one("#records", Static).border_subtitle = data.day
        self._tile("gaps", "media gaps", data.failures["media_unavailable"])
        self._tile("conflicts", "conflicts", data.failures["conflict"])
        self._tile("unparseable", "unparseable", data.failures["unparseable"])
        self._tile("webhook_errors", "webhook errors", data.failures["webhook_error"])
        self.query_one("#other_failures", Static).update(_other_failures(data))
        self.query_one("#orchestrations", Static).update(_orchestrations(data))
        self.query_one("#status", StatusLine).update("up to date")
