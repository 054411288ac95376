"""Storage calls one event costs end to end, by service and by stage (this is the Azure bill).

    .venv/bin/python -m bench.storage_ops [--repeat 3] [--write-data PATH]

Starts its own Azurite behind a counting loopback proxy (bench/counting_proxy.py), a
local Graph API stand-in and `python -m devhost` on the real function_app with every
connection string pointed at the proxy. Sends one event at a time (a text message,
then an image message, a status and a duplicate; then one text message from each of
WASender, Twilio and ACS), waits until it is indexed and storage has gone quiet, and
counts every blob, queue and table call it caused: webhook enqueue, queue trigger,
raw body, Durable orchestration (devhost's backend), record, index, media. Idle queue
polls are reported apart (they cost per second, not per event). Baseline, same run:
the three calls an event cannot do without (enqueue, record write, index upsert).

--write-data also writes the first run's counts per kind, stage, service and operation
class (read, write, list, delete, other: what the bill prices) as JSON, by default to
the file `wa-archive cost` reads (admin/cost_data/storage_ops.json).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from azure.data.tables import TableServiceClient

from archive.names import (
    INGEST_QUEUE,
    MEDIA_CONTAINER,
    RAW_CONTAINER,
    RECORDS_CONTAINER,
    SETTING_PUBLIC_BASE_URL,
    TABLE_FAILURES,
    TASK_HUB,
)
from archive.twilio_signature import sign_form
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
from tests.support.pipeline_env import ACS_WEBHOOK_SECRET, TWILIO_AUTH_TOKEN, WASENDER_SECRET

# Twilio signs the URL it was told to call; the app rebuilds it from PUBLIC_BASE_URL.
PUBLIC = "https://archive.example.com"

QUIET_SECONDS = 2.5
# Eight distinct words: the mean of bench.text_search's corpus (8.1 term rows a message).
# Keyword search writes one index row per distinct word (archive.text_index), so the text
# message's count depends on its words; "hello" would under-count the bill.
TYPICAL_TEXT = "Can we move the call to Thursday afternoon?"
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


Sender = Callable[[], bool]

DATA_FILE = Path(__file__).resolve().parents[1] / "admin" / "cost_data" / "storage_ops.json"
DATA_SCHEMA = "wa-archive/storage-ops@1"
# The keys `wa-archive cost` reads, in the order `measure` returns the kinds.
DATA_KEYS = ("text", "image", "status", "duplicate", "text_wasender", "text_twilio", "text_acs")


def op_class(call: Call) -> str:
    """How the bill classes a call: blob PUT is a write, GET/HEAD a read, a listing a list;
    a queue put is a write (class 1), get a read, update other (class 2); every table
    call is one transaction, classed by what it does."""
    if call.method == "DELETE":
        return "delete"
    if call.service == "blob":
        if call.operation == "list":
            return "list"
        return {"PUT": "write", "GET": "read", "HEAD": "read"}.get(call.method, "other")
    if call.service == "queue":
        return {"POST": "write", "GET": "read", "HEAD": "read"}.get(call.method, "other")
    if call.method in ("GET", "HEAD"):
        return "list" if call.operation == "query" else "read"
    return "write"


def kind_data(calls: list[Call]) -> dict[str, object]:
    stages: dict[str, dict[str, Counter[str]]] = {}
    for call in calls:
        if not call.empty:
            stage = stages.setdefault(stage_of(call), {})
            stage.setdefault(call.service, Counter())[op_class(call)] += 1
    return {
        "total": sum(not c.empty for c in calls),
        "stages": {stage: {service: dict(sorted(classes.items()))
                           for service, classes in sorted(services.items())}
                   for stage, services in sorted(stages.items())},
    }


def write_data(path: Path, kinds: list[Kind], repeat: int) -> None:
    data = {
        "schema": DATA_SCHEMA,
        "measured": datetime.now(UTC).date().isoformat(),
        "machine": f"{machine()}; devhost on Azurite behind a counting proxy",
        "command": f"python -m bench.storage_ops --repeat {repeat} --write-data",
        "note": "calls per event of each kind, first measured run; stage 3 is devhost's "
                "Durable backend (a lower bound for Azure)",
        "kinds": {key: {"title": kind.title, **kind_data(kind.runs[0])}
                  for key, kind in zip(DATA_KEYS, kinds, strict=True)},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {path}")


def meta_sender(url: str, body: bytes) -> Sender:
    return lambda: not asyncio.run(post_webhooks(url, [body], 1)).failures


def http_sender(url: str, body: bytes, headers: dict[str, str]) -> Sender:
    def send() -> bool:
        request = urllib.request.Request(url, data=body, method="POST", headers=headers)
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status) == 200

    return send


def provider_senders(url: str, run: str, index: int) -> dict[str, tuple[Sender, str]]:
    """One text message of each issue-13 provider, signed as it would be; (send, message id)."""
    wasender_id, twilio_id, acs_id = f"3EB0{run}w{index}", f"SM{run}t{index}", f"{run}-a{index}"
    wasender = json.dumps({"event": "messages.received", "timestamp": T0 + index, "data": {
        "messages": {"key": {"id": wasender_id, "fromMe": False,
                             "remoteJid": f"{CUSTOMER}@s.whatsapp.net",
                             "cleanedSenderPn": CUSTOMER},
                     "messageBody": TYPICAL_TEXT,
                     "message": {"conversation": TYPICAL_TEXT}}}}).encode()
    twilio = urllib.parse.urlencode({
        "MessageSid": twilio_id, "AccountSid": "AC" + "0" * 32, "From": f"whatsapp:+{CUSTOMER}",
        "To": "whatsapp:+15550783881", "Body": TYPICAL_TEXT, "NumMedia": "0",
        "SmsStatus": "received", "MessageType": "text"}).encode()
    acs = json.dumps([{
        "id": f"{run}-{index}", "topic": "/acs", "subject": "advancedMessage",
        "eventType": "Microsoft.Communication.AdvancedMessageReceived",
        "eventTime": "2025-11-26T12:00:00Z", "dataVersion": "1.0", "metadataVersion": "1",
        "data": {"channelType": "whatsapp", "messageId": acs_id, "messageType": "text",
                 "from": CUSTOMER, "to": "6a6c6f2b-0000-4000-8000-000000000001",
                 "receivedTimestamp": "2025-11-26T12:00:00+00:00",
                 "content": TYPICAL_TEXT}}]).encode()
    twilio_path = "/api/webhooks/twilio"
    return {
        "wasender": (http_sender(url + "/api/webhooks/wasender", wasender, {
            "Content-Type": "application/json", "X-Webhook-Signature": WASENDER_SECRET}),
            wasender_id),
        "twilio": (http_sender(url + twilio_path, twilio, {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": sign_form(TWILIO_AUTH_TOKEN, PUBLIC + twilio_path, twilio)}),
            twilio_id),
        "acs": (http_sender(f"{url}/api/webhooks/acs?secret={ACS_WEBHOOK_SECRET}", acs,
                            {"Content-Type": "application/json"}), acs_id),
    }


def one_event(proxy: CountingProxy, send: Sender, done: Callable[[], bool]
              ) -> tuple[list[Call], float]:
    """Send one webhook; return the calls it caused and the window length (seconds)."""
    proxy.take()
    started = time.monotonic()
    if not send():
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
    providers = {name: Kind(f"{name} text message") for name in ("wasender", "twilio", "acs")}
    idle, window = 0, 0.0
    for index in range(repeat + 1):  # round 0 is a warm-up
        text_id, image_id, media_id = (f"wamid.{run}.t{index}", f"wamid.{run}.i{index}",
                                       f"{run}m{index}")
        item = media.add(media_id, MediaItem(data=os.urandom(256 * 1024)))
        text_body = webhooks.body_of(webhooks.text_message(
            text_id, CUSTOMER, T0 + index, TYPICAL_TEXT))
        image_body = webhooks.body_of(webhooks.image_message(
            image_id, CUSTOMER, T0 + 100 + index, media_id, item.sha256))
        status_body = webhooks.body_of(
            webhooks.status(text_id, CUSTOMER, "delivered", T0 + 200 + index))
        steps: list[tuple[Kind, Sender, Callable[[], bool]]] = [
            (text, meta_sender(url, text_body), indexed(reader, text_id)),
            (image, meta_sender(url, image_body), indexed(reader, image_id)),
            (status, meta_sender(url, status_body), has_latest_status(reader, text_id)),
            (duplicate, meta_sender(url, text_body), lambda: True),
        ]
        for name, (send, message_id) in provider_senders(url, run, index).items():
            steps.append((providers[name], send, indexed(reader, message_id)))
        for kind, send, done in steps:
            calls, seconds = one_event(proxy, send, done)
            if index:
                kind.runs.append(calls)
                idle += sum(c.empty for c in calls)
                window += seconds
    return [text, image, status, duplicate, *providers.values()], idle, window


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--write-data", nargs="?", type=Path, const=DATA_FILE, default=None,
                        metavar="PATH", help="also write the counts as JSON for `wa-archive "
                        f"cost` (default path: {DATA_FILE.relative_to(DATA_FILE.parents[2])})")
    args = parser.parse_args()
    media = MediaServer().start()
    try:
        with tempfile.TemporaryDirectory() as folder, azurite_in(Path(folder)) as azurite:
            reader = IndexReader(TableServiceClient.from_connection_string(
                azurite.connection_string))
            proxy = CountingProxy(azurite.endpoints).start()
            try:
                with devhost_on(Path(folder), proxy.connection_string,
                                graph_url=media.base_url,
                                **{SETTING_PUBLIC_BASE_URL: PUBLIC}) as url:
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
    if args.write_data is not None:
        write_data(args.write_data, kinds, args.repeat)


if __name__ == "__main__":
    main()
