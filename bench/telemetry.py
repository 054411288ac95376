"""What metrics cost per event: the pipeline with telemetry off and on, in the same run.

    .venv/bin/python -m bench.telemetry [--events 200] [--concurrency 8] [--rounds 2]
    .venv/bin/python -m bench.end_to_end --telemetry both      (the same, from there)

Two measurements:

1. In process, the exporter calls alone: the emits one event causes (webhook accepted,
   record archived with both lags, media bytes for a third of them) with no exporter,
   with the local JSON-lines exporter and with an in-memory reader; microseconds per
   event, and the time of one export with the dimension sets a busy day produces.
2. The pipeline (bench.end_to_end's text phase: devhost + Azurite + Graph stand-in),
   alternating devhost runs without and with the local exporter (WA_METRICS_DIR; the
   default 15 s interval), `--rounds` each in ABBA order (off, on, on, off, ...). For
   each: webhooks/s answered (ingest) and events/s archived (end to end), and their
   ratios to raw floors measured in the same run (ingest: one queue put per webhook;
   end to end: put + record blob + index upsert, as bench.end_to_end). The change in
   each ratio is the telemetry's cost.

Storage calls are not part of it: telemetry makes none on the event path (the
pipeline_gauges timer reads two queues a minute, whichever mode).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from azure.storage.queue import TextBase64EncodePolicy
from azure.storage.queue.aio import QueueClient
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, PeriodicExportingMetricReader

import telemetry
from bench.common import (
    T0,
    Timed,
    azurite_in,
    devhost_on,
    machine,
    new_run,
    post_webhooks,
    run_concurrently,
    text_body,
    wait_until,
)
from bench.end_to_end import DAY, PHASE_TIMEOUT, indexed, raw_floor, records_sample
from storage.envelope import encode
from telemetry.jsonl import JsonLinesExporter
from telemetry.provider import ENV_CONNECTION, ENV_DIR, ENV_INTERVAL, disable
from tests.support.envelopes import meta_envelope
from tests.support.media_server import MediaServer

PROVIDERS = ("meta", "wasender", "twilio", "acs")
TYPES = ("text", "image", "audio", "document", "reaction", "location")


def telemetry_env(on: bool, folder: Path) -> dict[str, str]:
    """devhost environment: the local exporter into `folder`, or no exporter at all."""
    if on:
        return {ENV_DIR: str(folder), ENV_INTERVAL: "", ENV_CONNECTION: ""}
    return {ENV_DIR: "", ENV_INTERVAL: "", ENV_CONNECTION: ""}


def _emit_event(index: int, now: float) -> None:
    provider = PROVIDERS[index % len(PROVIDERS)]
    telemetry.webhook(provider, "accepted", "ok", 12.0 + index % 50)
    telemetry.archived({"provider": provider, "event": "message",
                        "type": TYPES[index % len(TYPES)],
                        "timestamp": "2025-11-26T11:59:00Z",
                        "received_at": "2025-11-26T11:59:58Z"}, now=now)
    if index % 3 == 0:
        telemetry.media_stored(provider, 65536)


def micro(events: int) -> dict[str, float]:
    """Microseconds per event of the emits, per exporter; ms per export."""
    now = time.time()
    found: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        readers = {
            "none": None,
            "in-memory": InMemoryMetricReader(),
            "local file": PeriodicExportingMetricReader(
                JsonLinesExporter(Path(folder)), export_interval_millis=1e9),
        }
        for label, reader in readers.items():
            if reader is not None:
                telemetry.install(reader)
            else:
                disable()  # no exporter, as in a process without one configured
            for index in range(200):  # warm the attribute sets
                _emit_event(index, now)
            started = time.perf_counter()
            for index in range(events):
                _emit_event(index, now)
            found[label] = (time.perf_counter() - started) / events * 1e6
            if label == "local file":
                started = time.perf_counter()
                telemetry.flush()
                found["export ms"] = (time.perf_counter() - started) * 1000
        telemetry.reset()
    return found


async def put_floor(conn: str, count: int, concurrency: int) -> Timed:
    """One queue put per webhook: the ingest floor."""
    suffix = uuid.uuid4().hex[:10]
    queue = QueueClient.from_connection_string(
        conn, "put" + suffix, message_encode_policy=TextBase64EncodePolicy())
    now = datetime.now(UTC)
    messages = [encode(meta_envelope(text_body(suffix, i), now), inline=True)
                for i in range(count)]
    async with queue:
        await queue.create_queue()

        async def one(index: int) -> bool:
            await queue.send_message(messages[index])
            return True

        return await run_concurrently(count, concurrency, one)


@dataclass
class Phase:
    ingest_rate: float  # webhooks/s answered 200
    archived_rate: float  # events/s, first POST to last IndexByDay row


def phase(conn: str, url: str, bodies: list[bytes], t0: int, concurrency: int) -> Phase:
    started = time.monotonic()
    sent = asyncio.run(post_webhooks(url, bodies, concurrency))
    if sent.failures:
        raise SystemExit(f"{sent.failures} webhooks were not answered 200")
    done = wait_until(f"{len(bodies)} indexed events",
                      lambda: indexed(conn, t0) >= len(bodies), PHASE_TIMEOUT, interval=0.25)
    return Phase(sent.rate, len(bodies) / (done - started))


def pipeline(events: int, concurrency: int, rounds: int) -> dict[str, object]:
    run = new_run()
    results: dict[bool, list[Phase]] = {False: [], True: []}
    media = MediaServer().start()
    try:
        with tempfile.TemporaryDirectory() as folder, azurite_in(Path(folder)) as azurite:
            conn = azurite.connection_string
            day = 0
            for round_index in range(rounds):
                # ABBA order: Azurite slows as it fills, and a fixed order would charge
                # that drift to whichever mode always runs second.
                for on in ((False, True) if round_index % 2 == 0 else (True, False)):
                    env = telemetry_env(on, Path(folder) / f"metrics-{round_index}")
                    with devhost_on(Path(folder), conn, graph_url=media.base_url, **env) as url:
                        day += 1
                        warm_t0 = T0 + day * DAY
                        phase(conn, url, [text_body(f"{run}w{day}", i, warm_t0)
                                          for i in range(20)], warm_t0, concurrency)
                        day += 1
                        t0 = T0 + day * DAY
                        results[on].append(phase(
                            conn, url, [text_body(f"{run}p{day}", i, t0) for i in range(events)],
                            t0, concurrency))
            record_size = len(records_sample(conn))
            floor = asyncio.run(raw_floor(conn, events * 2, concurrency, record_size))
            puts = asyncio.run(put_floor(conn, events * 2, concurrency))
    finally:
        media.stop()
    return {"off": results[False], "on": results[True], "floor": floor.rate,
            "puts": puts.rate}


def _mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def report(events: int, concurrency: int, rounds: int, micro_events: int) -> None:
    costs = micro(micro_events)
    found = pipeline(events, concurrency, rounds)
    print(f"machine: {machine()}")
    print(f"emit cost per event ({micro_events} events: webhook + archived + 1/3 media):")
    for label in ("none", "in-memory", "local file"):
        print(f"  exporter {label:<11} {costs[label]:7.1f} us/event")
    print(f"  one local export (snapshot to JSON lines): {costs['export ms']:.2f} ms")
    floor, puts = float(found["floor"]), float(found["puts"])  # type: ignore[arg-type]
    rows = {}
    for mode in ("off", "on"):
        phases: list[Phase] = found[mode]  # type: ignore[assignment]
        ingest = _mean([p.ingest_rate for p in phases])
        archived = _mean([p.archived_rate for p in phases])
        rows[mode] = (ingest, archived)
        print(f"telemetry {mode:<3}: ingest {ingest:7.1f} webhooks/s (ratio {puts / ingest:5.2f}), "
              f"end to end {archived:6.1f} events/s (ratio {floor / archived:5.2f})  "
              f"[mean of {len(phases)}: "
              + ", ".join(f"{p.ingest_rate:.0f}/{p.archived_rate:.1f}" for p in phases) + "]")
    (i_off, a_off), (i_on, a_on) = rows["off"], rows["on"]
    share = costs["local file"] * 1e-6 * a_on * 100
    print(f"exporter calls at {a_on:.1f} events/s: {costs['local file']:.0f} us/event, "
          f"{share:.2f}% of one core")
    print(f"raw floors: {puts:.1f} puts/s (ingest), {floor:.1f} events/s "
          f"(put + record blob + index upsert)")
    print(f"change with telemetry: ingest ratio {puts / i_off:.2f} -> {puts / i_on:.2f} "
          f"({(i_off / i_on - 1) * 100:+.1f}%), end-to-end ratio {floor / a_off:.2f} -> "
          f"{floor / a_on:.2f} ({(a_off / a_on - 1) * 100:+.1f}%)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--micro-events", type=int, default=20000)
    args = parser.parse_args()
    report(args.events, args.concurrency, args.rounds, args.micro_events)


if __name__ == "__main__":
    main()
