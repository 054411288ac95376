"""Small helpers shared by the ingest, end-to-end, media and storage-ops benchmarks.

Every benchmark starts its own Azurite in a temp folder (and `python -m devhost`
through the e2e test harness where it needs the HTTP front door), talks to
loopback only, and prints its figure beside a raw-Azurite baseline measured in
the same run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

from devhost.azurite import REPO_ROOT, Azurite
from storage.provision import ensure_archive_resources
from tests.e2e.pipeline_harness import DevHostProcess
from tests.support import webhooks

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
WEBHOOK_PATH = "/api/webhooks/meta"
CUSTOMER = "15551234567"
T0 = 1764158400  # 2025-11-26T12:00:00Z
APP = str(REPO_ROOT / "function_app.py")


def require_loopback(url: str) -> None:
    host = urlsplit(url).hostname or ""
    if host not in LOOPBACK_HOSTS:
        raise SystemExit(f"benchmarks only target loopback, not {host!r}")


def machine() -> str:
    return f"{os.cpu_count()} CPU, {platform.python_implementation()} {platform.python_version()}"


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


@contextlib.contextmanager
def azurite_in(folder: Path) -> Iterator[Azurite]:
    emulator = Azurite(folder / "azurite")
    emulator.start()
    try:
        ensure_archive_resources(emulator.connection_string)
        yield emulator
    finally:
        emulator.stop()


@contextlib.contextmanager
def devhost_on(
    folder: Path, conn: str, *, app: str = APP, graph_url: str = "http://127.0.0.1:9",
    **env: str,
) -> Iterator[str]:
    """`python -m devhost --app <app>` with the pipeline's settings for `conn`; yields its URL."""
    host = DevHostProcess(
        conn, graph_url, folder / "devhost.log",
        host_json=REPO_ROOT / "host.json", extra_env=env, app=Path(app),
    ).start()
    try:
        require_loopback(host.url)
        yield host.url
    finally:
        host.stop()


def text_body(run: str, index: int, t0: int = T0) -> bytes:
    wamid = f"wamid.{run}.{index:06d}"
    return webhooks.body_of(webhooks.text_message(wamid, CUSTOMER, t0 + index))


def image_body(run: str, index: int, media_id: str, sha256: str, t0: int = T0) -> bytes:
    wamid = f"wamid.{run}.{index:06d}"
    return webhooks.body_of(webhooks.image_message(wamid, CUSTOMER, t0 + index, media_id, sha256))


def new_run() -> str:
    return uuid.uuid4().hex[:10]


@dataclass
class Timed:
    """Latencies (seconds) of one phase and its wall-clock duration."""

    latencies: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    failures: int = 0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else float("nan")

    def ms(self, pct: float) -> float:
        return percentile(self.latencies, pct) * 1000


async def run_concurrently(
    count: int, concurrency: int, one: Callable[[int], Awaitable[bool]]
) -> Timed:
    """Call `one(i)` for i < count with `concurrency` workers; time each call and the whole."""
    timed = Timed()
    next_index = iter(range(count))

    async def worker() -> None:
        for index in next_index:
            started = time.perf_counter()
            ok = await one(index)
            if ok:
                timed.latencies.append(time.perf_counter() - started)
            else:
                timed.failures += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    timed.elapsed = time.perf_counter() - started
    return timed


async def post_webhooks(url: str, bodies: list[bytes], concurrency: int) -> Timed:
    """POST signed bodies to the webhook route; a call counts when answered 200."""
    require_loopback(url)
    signed = [(body, webhooks.signed_headers(body)) for body in bodies]
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(index: int) -> bool:
            body, headers = signed[index]
            async with session.post(url + WEBHOOK_PATH, data=body, headers=headers) as resp:
                await resp.read()
                return resp.status == 200

        return await run_concurrently(len(bodies), concurrency, one)


def wait_until(what: str, probe: Callable[[], bool], timeout: float, interval: float = 0.2
               ) -> float:
    """Poll until `probe()`; returns the monotonic time it first held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe():
            return time.monotonic()
        time.sleep(interval)
    raise SystemExit(f"timed out after {timeout:.0f}s waiting for {what}")
