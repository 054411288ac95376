"""Loader for the Meta-shaped webhook fixtures in tests/fixtures/meta."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "meta"


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def fixture_names() -> list[str]:
    return sorted(path.stem for path in FIXTURES.glob("*.json"))
