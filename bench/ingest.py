"""Webhook ingest through POST /api/webhooks/meta, beside a bare peer and raw Azurite put_message.

    .venv/bin/python -m bench.ingest [--webhooks 1500] [--concurrency 8 32] [--rounds 3]

Starts its own Azurite, `python -m devhost` serving the webhook front door alone
(bench/ingest_app.py: size cap, signature check with every configured secret, envelope
with custody fields, claim-check of big bodies, durable enqueue; the queue worker does
not run, as on Flex Consumption where HTTP triggers scale on their own), and the bare
peer (bench/ingest_peer.py: an aiohttp app in a process of its own that only checks
the HMAC and enqueues the body). For each concurrency, rounds of N signed text
webhooks go to the front door and to the peer, interleaved (the order alternates each
round), on the same Azurite. It prints webhooks/s and latency percentiles for both,
the ratio front door / peer per round with its median and spread, and, in the same
run and at the same concurrency, the rate of raw `send_message` calls carrying the
very envelopes the front door enqueued.

`--profile FILE` runs devhost under cProfile (the event loop's thread) and writes
the stats to FILE when it stops.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from azure.storage.queue import QueueClient, TextBase64EncodePolicy
from azure.storage.queue.aio import QueueClient as AsyncQueueClient

from archive.names import INGEST_QUEUE
from bench.common import (
    Timed,
    azurite_in,
    machine,
    new_run,
    post_webhooks,
    require_loopback,
    run_concurrently,
    text_body,
)
from bench.ingest_peer import READY_PREFIX
from devhost import lifeline
from devhost.azurite import REPO_ROOT
from storage.envelope import encode
from tests.e2e.pipeline_harness import DevHostProcess
from tests.support.envelopes import meta_envelope
from tests.support.pipeline_env import settings_for
from tests.support.webhooks import APP_SECRET

# A module name, not a path: devhost would put bench/ on sys.path, where ingest.py
# (this file) would shadow the `ingest` package.
APP = "bench.ingest_app"
PEER_QUEUE = "ingest-peer"
READY_TIMEOUT = 60.0


@dataclass(frozen=True)
class Server:
    url: str
    pid: int


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc; 0 elsewhere)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def peer_on(folder: Path, conn: str, tuned: bool = False) -> Iterator[Server]:
    """`python -m bench.ingest_peer` in its own process, with the front door's settings."""
    env = dict(os.environ)
    env.update(settings_for(conn, "http://127.0.0.1:9"))
    env["WHATSAPP_APP_SECRET"] = APP_SECRET  # one secret: the one the bodies are signed with
    env["PYTHONUNBUFFERED"] = "1"
    with (folder / "peer.log").open("a") as log:
        proc = lifeline.spawn(
            [sys.executable, "-m", "bench.ingest_peer", "--queue", PEER_QUEUE,
             *(["--no-env-settings"] if tuned else [])],
            cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=log, text=True,
            start_new_session=True,
        )
    ready = threading.Event()
    url: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith(READY_PREFIX):
                url.append(line.split()[-1])
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        if not ready.wait(READY_TIMEOUT):
            raise SystemExit(f"the peer did not start; see {folder / 'peer.log'}")
        require_loopback(url[0])
        yield Server(url[0], proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@contextmanager
def front_door_on(folder: Path, conn: str, app: str, profile: str | None) -> Iterator[Server]:
    launcher = [sys.executable, "-m", "devhost"]
    if profile:
        launcher = [sys.executable, "-m", "cProfile", "-o", profile, "-m", "devhost"]
    host = DevHostProcess(
        conn, "http://127.0.0.1:9", folder / "devhost.log",
        host_json=REPO_ROOT / "host.json", app=Path(app), launcher=launcher,
    ).start()
    try:
        require_loopback(host.url)
        assert host._proc is not None
        yield Server(host.url, host._proc.pid)
    finally:
        host.stop()


async def raw_puts(conn: str, messages: list[str], concurrency: int) -> Timed:
    queue = AsyncQueueClient.from_connection_string(
        conn, "raw" + uuid.uuid4().hex[:10], message_encode_policy=TextBase64EncodePolicy()
    )
    async with queue:
        await queue.create_queue()

        async def one(index: int) -> bool:
            await queue.send_message(messages[index])
            return True

        return await run_concurrently(len(messages), concurrency, one)


def queue_depth(conn: str, name: str) -> int:
    queue = QueueClient.from_connection_string(conn, name)
    return int(queue.get_queue_properties().approximate_message_count or 0)


@dataclass
class Level:
    """Every round at one concurrency."""

    concurrency: int
    front: list[Timed] = field(default_factory=list)
    peer: list[Timed] = field(default_factory=list)
    # CPU seconds the server process used per round (its rounds' webhooks only).
    front_cpu: list[float] = field(default_factory=list)
    peer_cpu: list[float] = field(default_factory=list)
    raw: Timed = field(default_factory=Timed)

    @property
    def ratios(self) -> list[float]:
        return [f.rate / p.rate if p.latencies else float("nan")
                for f, p in zip(self.front, self.peer, strict=True)]


def pooled(rounds: list[Timed]) -> Timed:
    """All rounds' latencies together (for percentiles); rate = median of the rounds."""
    merged = Timed(failures=sum(t.failures for t in rounds))
    for timed in rounds:
        merged.latencies.extend(timed.latencies)
    rate = statistics.median(t.rate for t in rounds)
    merged.elapsed = len(merged.latencies) / rate if rate else 0.0
    return merged


async def measure(
    conn: str, front: Server, peer: Server, count: int, concurrency: int, rounds: int
) -> Level:
    level = Level(concurrency)
    run = new_run()
    warm = [text_body(f"{run}w", i) for i in range(min(200, count))]
    await post_webhooks(front.url, warm, concurrency)
    await post_webhooks(peer.url, warm, concurrency)
    for number in range(rounds):
        bodies = [text_body(f"{run}r{number}", i) for i in range(count)]
        sides = [(front, level.front, level.front_cpu), (peer, level.peer, level.peer_cpu)]
        for server, results, cpu in sides if number % 2 == 0 else reversed(sides):
            before = cpu_seconds(server.pid)
            results.append(await post_webhooks(server.url, bodies, concurrency))
            cpu.append(cpu_seconds(server.pid) - before)
    now = datetime.now(UTC)
    envelopes = [encode(meta_envelope(text_body(run, i), now), inline=True) for i in range(count)]
    await raw_puts(conn, envelopes[: len(warm)], concurrency)
    level.raw = await raw_puts(conn, envelopes, concurrency)
    return level


def line(name: str, timed: Timed, unit: str = "webhooks/s") -> str:
    return (f"  {name:<26}{timed.rate:8.1f} {unit:<11} p50 {timed.ms(50):6.1f} ms  "
            f"p99 {timed.ms(99):6.1f} ms")


def report(level: Level) -> None:
    front, peer = pooled(level.front), pooled(level.peer)
    ratios = level.ratios
    print(f"concurrency {level.concurrency}: {len(ratios)} interleaved rounds; "
          f"{front.failures} front door and {peer.failures} peer calls not answered 200")
    print(line("front door (devhost):", front))
    print(line("bare peer (aiohttp):", peer))
    print(line("raw Azurite put_message:", level.raw, "messages/s"))
    print("  per round, front door / peer: "
          + "  ".join(f"{f.rate:.0f}/{p.rate:.0f}={r:.2f}"
                      for f, p, r in zip(level.front, level.peer, ratios, strict=True)))
    print(f"  ratio front door / peer:   {statistics.median(ratios):8.2f} median "
          f"(min {min(ratios):.2f}, max {max(ratios):.2f}); "
          f"p99 {front.ms(99) / peer.ms(99):.2f}x peer")
    front_ms = 1000 * sum(level.front_cpu) / max(1, len(front.latencies))
    peer_ms = 1000 * sum(level.peer_cpu) / max(1, len(peer.latencies))
    print(f"  server CPU per webhook:     front door {front_ms:.2f} ms, peer {peer_ms:.2f} ms "
          f"({front_ms / peer_ms if peer_ms else float('nan'):.2f}x; less load-sensitive "
          "than the rates)")
    print(f"  ratio raw put / front door:{level.raw.rate / front.rate:8.2f} "
          f"(raw put/s per webhook/s); p99 {front.ms(99) / level.raw.ms(99):.2f}x raw")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--webhooks", type=int, default=1500, help="per side and round")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--app", default=APP, help="module devhost serves (default %(default)s)")
    parser.add_argument("--profile", metavar="FILE", help="run devhost under cProfile")
    parser.add_argument(
        "--tuned-peer", action="store_true",
        help="give the peer the front door's aio transport setting (no env settings), so "
             "the ratio shows only what the front door itself adds",
    )
    args = parser.parse_args()
    levels: list[Level] = []
    with tempfile.TemporaryDirectory() as folder, azurite_in(Path(folder)) as azurite:
        conn = azurite.connection_string
        profile = str(Path(args.profile).resolve()) if args.profile else None
        with front_door_on(Path(folder), conn, args.app, profile) as front, \
                peer_on(Path(folder), conn, args.tuned_peer) as peer:
            for concurrency in args.concurrency:
                levels.append(asyncio.run(measure(
                    conn, front, peer, args.webhooks, concurrency, args.rounds)))
        depth, peer_depth = queue_depth(conn, INGEST_QUEUE), queue_depth(conn, PEER_QUEUE)
    size = len(text_body("x" * 10, 0))
    print(f"machine: {machine()}")
    print(f"webhooks: {args.webhooks} signed text webhooks (~{size} B) per side and round; "
          f"peer transport: {'tuned (no env settings)' if args.tuned_peer else 'SDK defaults'}")
    for level in levels:
        report(level)
    print(f"queue depth after: ingest {depth}, {PEER_QUEUE} {peer_depth} "
          "(every 200 is one durable message)")


if __name__ == "__main__":
    main()
