"""Command palette provider: jump to a screen from Ctrl+P (tui/registry.py lists them)."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from tui.registry import SCREENS


class ScreensProvider(Provider):
    async def _run(self, mode: str) -> None:
        await self.app.switch_mode(mode)

    async def discover(self) -> Hits:
        for spec in SCREENS:
            yield DiscoveryHit(spec.name, partial(self._run, spec.mode), help=spec.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for spec in SCREENS:
            score = matcher.match(spec.name)
            if score > 0:
                yield Hit(score, matcher.highlight(spec.name), partial(self._run, spec.mode),
                          help=spec.help)
