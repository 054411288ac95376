"""Send signed webhooks at a target rate with bounded concurrency, retrying as Meta does.

Meta redelivers a webhook that did not get a 200 (with backoff, for days). Here: 5xx,
429 and connection errors are retried with doubling backoff (0.25 s up to 4 s) until a
200 or until `give_up_after` seconds for that delivery; any other answer (401, 413, ...)
is final and counted as rejected. Loopback only: the target URL is checked.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp

from tests.support import webhooks

RETRYABLE = frozenset({429, 500, 502, 503, 504})
FIRST_BACKOFF = 0.25
MAX_BACKOFF = 4.0
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass
class SendStats:
    deliveries: int = 0
    accepted: int = 0
    attempts: int = 0
    retried_deliveries: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)  # seconds, of the accepted attempts
    rejected: list[str] = field(default_factory=list)  # "status: reason" of final non-200s
    gave_up: int = 0
    accepted_sha256: set[str] = field(default_factory=set)  # bodies answered 200 so far
    started: float = 0.0
    finished: float = 0.0

    @property
    def elapsed(self) -> float:
        return max(self.finished - self.started, 1e-9)

    def percentile(self, pct: float) -> float:
        """Nearest-rank percentile of accepted-attempt latency, in seconds."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
        return ordered[rank - 1]


def _require_loopback(url: str) -> None:
    host = urlsplit(url).hostname or ""
    if host not in LOOPBACK_HOSTS:
        raise ValueError(f"load tests only target loopback, not {host!r}")


async def _deliver(
    session: aiohttp.ClientSession, url: str, body: bytes, stats: SendStats, give_up_after: float
) -> None:
    headers = webhooks.signed_headers(body)
    deadline = time.monotonic() + give_up_after
    backoff = FIRST_BACKOFF
    attempts = 0
    while True:
        attempts += 1
        stats.attempts += 1
        began = time.perf_counter()
        try:
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            status, label = 0, type(exc).__name__
        else:
            label = str(status)
        stats.statuses[label] += 1
        if status == 200:
            stats.latencies.append(time.perf_counter() - began)
            stats.accepted += 1
            stats.accepted_sha256.add(hashlib.sha256(body).hexdigest())
            break
        if status and status not in RETRYABLE:
            stats.rejected.append(label)
            break
        if time.monotonic() + backoff > deadline:
            stats.gave_up += 1
            break
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, MAX_BACKOFF)
    if attempts > 1:
        stats.retried_deliveries += 1


async def send_all(
    url: str,
    bodies: list[bytes],
    *,
    rate: float = 0.0,
    concurrency: int = 32,
    give_up_after: float = 120.0,
    stats: SendStats | None = None,
    request_timeout: float = 30.0,
) -> SendStats:
    """POST every body once (retrying until 200); `rate` <= 0 means as fast as allowed."""
    _require_loopback(url)
    stats = stats or SendStats()
    slots = asyncio.Semaphore(concurrency)
    tasks: set[asyncio.Task[None]] = set()
    timeout = aiohttp.ClientTimeout(total=request_timeout)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        stats.started = time.perf_counter()
        for index, body in enumerate(bodies):
            if rate > 0:
                delay = stats.started + index / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            await slots.acquire()
            stats.deliveries += 1
            task = asyncio.create_task(_deliver(session, url, body, stats, give_up_after))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            task.add_done_callback(lambda _: slots.release())
        if tasks:
            await asyncio.gather(*tasks)
        stats.finished = time.perf_counter()
    return stats
