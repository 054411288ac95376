"""Command palette provider: jump to a screen or run a refresh from Ctrl+P."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

COMMANDS = (
    ("Dashboard", "backlog, records today, gaps and conflicts", "dashboard"),
    ("Failures", "poison messages, media gaps, conflicts, unparseable", "failures"),
    ("Search", "search the index by participant, date, type", "search"),
    ("Audit", "who did what", "audit"),
)


class ScreensProvider(Provider):
    async def _run(self, mode: str) -> None:
        await self.app.switch_mode(mode)

    async def discover(self) -> Hits:
        for name, help_text, mode in COMMANDS:
            yield DiscoveryHit(name, partial(self._run, mode), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, mode in COMMANDS:
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), partial(self._run, mode), help=help_text)
