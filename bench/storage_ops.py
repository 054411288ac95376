"""Storage calls one event costs end to end, by service and by stage (this is the Azure bill).

    .venv/bin/python -m bench.storage_ops [--repeat 3]

Starts its own Azurite behind a counting loopback proxy (bench/counting_proxy.py), a
local Graph API stand-in and `python -m devhost` on the real function_app with every
connection string pointed at the proxy. Sends one event at a time (a text message,
then an image message), waits until it is indexed and storage has gone quiet, and
counts every blob, queue and table call it caused: webhook enqueue, queue trigger,
raw body, Durable orchestration (devhost's backend), record, index, media. Idle queue
polls are reported apart (they cost per second, not per event). Baseline, same run:
the three calls an event cannot do without (enqueue, record write, index upsert).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from azure.data.tables import TableServiceClient

from archive.names import (
    INGEST_QUEUE,
    MEDIA_CONTAINER,
    RAW_CONTAINER,
    RECORDS_CONTAINER,
    TABLE_FAILURES,
    TASK_HUB,
)
from bench.common import (
    CUSTOMER,
    T0,
    azurite_in,
    devhost_on,
    machine,
    new_run,
    post_webhooks,
    wait_until,
)
from bench.counting_proxy import Call, CountingProxy, summarize
from storage.index_reader import IndexReader
from tests.support import webhooks
from tests.support.media_server import MediaItem, MediaServer

QUIET_SECONDS = 2.5
STAGES = ("1 webhook", "2 queue trigger", "3 orchestration", "4 record", "5 index", "6 media",
          "failures", "other")
QUEUE_STAGE = {"POST": "1 webhook", "GET": "2 queue trigger", "DELETE": "2 queue trigger",
               "PUT": "2 queue trigger"}


def stage_of(call: Call) -> str:
    if call.service == "queue" and call.resource == INGEST_QUEUE:
        return QUEUE_STAGE.get(call.method, "other")
    if call.service == "blob":
        return {RAW_CONTAINER: "2 queue trigger", RECORDS_CONTAINER: "4 record",
                MEDIA_CONTAINER: "6 media"}.get(call.resource, "other")
    if call.service == "table":
        if call.resource.startswith(TASK_HUB):
            return "3 orchestration"
        if call.resource == TABLE_FAILURES:
            return "failures"
        if call.resource.startswith("Index"):
            return "5 index"
    return "other"


def one_event(proxy: CountingProxy, url: str, body: bytes, done: Callable[[], bool]
              ) -> tuple[list[Call], float]:
    """Send one webhook; return the calls it caused and the window length (seconds)."""
    proxy.take()
    started = time.monotonic()
    sent = asyncio.run(post_webhooks(url, [body], 1))
    if sent.failures:
        raise SystemExit("the webhook was not answered 200")
    wait_until("the event to be indexed", done, 120)
    wait_until("storage to go quiet",
               lambda: time.monotonic() - max(proxy.last_busy(), started) > QUIET_SECONDS, 120)
    return proxy.take(), time.monotonic() - started


def indexed(reader: IndexReader, message_id: str) -> Callable[[], bool]:
    return lambda: bool(reader.by_message(message_id))


def has_latest_status(reader: IndexReader, message_id: str) -> Callable[[], bool]:
    return lambda: bool(reader.latest_status(message_id))


def by_stage(calls: list[Call]) -> dict[str, Counter[str]]:
    table: dict[str, Counter[str]] = {s: Counter() for s in STAGES}
    for call in calls:
        if not call.empty:
            table[stage_of(call)][call.service] += 1
    return table


def print_table(title: str, runs: list[list[Call]]) -> None:
    per_run = [sum(not c.empty for c in run) for run in runs]
    print(f"\n{title}: {per_run[0]} storage calls per event "
          f"(runs: {', '.join(map(str, per_run))})")
    print(f"  {'stage':<18}{'blob':>6}{'queue':>7}{'table':>7}{'total':>7}")
    first = by_stage(runs[0])
    for stage in STAGES:
        row = first[stage]
        if not row:
            continue
        print(f"  {stage:<18}{row['blob']:>6}{row['queue']:>7}{row['table']:>7}"
              f"{sum(row.values()):>7}")
    totals = Counter[str]()
    for row in first.values():
        totals.update(row)
    print(f"  {'total':<18}{totals['blob']:>6}{totals['queue']:>7}{totals['table']:>7}"
          f"{sum(totals.values()):>7}")
    print("  detail (service resource method operation: calls):")
    for (service, resource, method, op), n in sorted(summarize(runs[0]).items()):
        print(f"    {service:<6}{resource:<28}{method:<7}{op:<12}{n:>3}")


@dataclass
class Kind:
    title: str
    runs: list[list[Call]] = field(default_factory=list)


def measure(proxy: CountingProxy, url: str, reader: IndexReader, media: MediaServer,
            repeat: int) -> tuple[list[Kind], int, float]:
    run = new_run()
    text, image, status, duplicate = (
        Kind("text message"), Kind("image message (256 KiB, one media item)"),
        Kind("status (delivered) of that text message"),
        Kind("duplicate delivery of the text webhook"))
    idle, window = 0, 0.0
    for index in range(repeat + 1):  # round 0 is a warm-up
        text_id, image_id, media_id = (f"wamid.{run}.t{index}", f"wamid.{run}.i{index}",
                                       f"{run}m{index}")
        item = media.add(media_id, MediaItem(data=os.urandom(256 * 1024)))
        text_body = webhooks.body_of(webhooks.text_message(text_id, CUSTOMER, T0 + index))
        steps = [
            (text, text_body, indexed(reader, text_id)),
            (image, webhooks.body_of(webhooks.image_message(
                image_id, CUSTOMER, T0 + 100 + index, media_id, item.sha256)),
             indexed(reader, image_id)),
            (status, webhooks.body_of(webhooks.status(text_id, CUSTOMER, "delivered",
                                                      T0 + 200 + index)),
             has_latest_status(reader, text_id)),
            (duplicate, text_body, lambda: True),
        ]
        for kind, body, done in steps:
            calls, seconds = one_event(proxy, url, body, done)
            if index:
                kind.runs.append(calls)
                idle += sum(c.empty for c in calls)
                window += seconds
    return [text, image, status, duplicate], idle, window


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    media = MediaServer().start()
    try:
        with tempfile.TemporaryDirectory() as folder, azurite_in(Path(folder)) as azurite:
            reader = IndexReader(TableServiceClient.from_connection_string(
                azurite.connection_string))
            proxy = CountingProxy(azurite.endpoints).start()
            try:
                with devhost_on(Path(folder), proxy.connection_string,
                                graph_url=media.base_url) as url:
                    kinds, idle, window = measure(proxy, url, reader, media, args.repeat)
            finally:
                proxy.stop()
    finally:
        media.stop()
    print(f"machine: {machine()}; devhost on Azurite behind a counting proxy")
    for kind in kinds:
        print_table(kind.title, kind.runs)
    floor = 3
    text_calls = sum(not c.empty for c in kinds[0].runs[0])
    media_calls = sum(not c.empty for c in kinds[1].runs[0])
    print(f"\nbaseline: {floor} calls (enqueue + record write + index upsert)")
    print(f"ratio: text {text_calls / floor:.1f}x, image {media_calls / floor:.1f}x the baseline")
    print(f"idle queue polls: {idle} in {window:.0f} s of event windows "
          f"({idle / window * 60:.0f}/min; host.json maxPollingInterval 2 s)")


if __name__ == "__main__":
    main()
