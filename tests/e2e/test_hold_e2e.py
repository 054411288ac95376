"""A hold placed while events keep arriving covers the new events (devhost on Azurite).

The hold is placed with the CLI while webhooks for its participant keep coming. Every
event of that participant, archived before, during and after the placing, is then held
by the Holds table (`hold check`), a bystander's is not, and the archive-time hold step
reports the matter for the events archived once devhost's hold cache had refreshed
(`HOLD_CACHE_SECONDS=2` here; a minute in production).
"""

from __future__ import annotations

import contextlib
import io
import json
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from admin.durable_api import DurableApi, DurableSettings
from archive.identity import event_instance_id
from archive.names import SETTING_HOLD_CACHE_SECONDS
from archive.parsing import parse_body
from cli.main import main as cli_main
from devhost.azurite import Azurite
from storage.provision import ensure_archive_resources
from tests.e2e.pipeline_harness import DevHostProcess, send_webhook, wait_for
from tests.support import webhooks
from tests.support.media_server import MediaServer
from tests.support.pipeline_env import use_archive

pytestmark = pytest.mark.e2e

MASTER_KEY = "e2e-master-key"


@pytest.fixture
def devhost(
    fresh_azurite: Azurite, media_server: MediaServer, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[DevHostProcess]:
    ensure_archive_resources(fresh_azurite.connection_string)
    host = DevHostProcess(
        fresh_azurite.connection_string, media_server.base_url, tmp_path / "devhost.log",
        extra_env={"DEVHOST_MASTER_KEY": MASTER_KEY, SETTING_HOLD_CACHE_SECONDS: "2"},
    ).start()
    use_archive(monkeypatch, fresh_azurite.connection_string, media_server.base_url)
    try:
        yield host
    finally:
        host.stop()


def cli(*argv: str) -> tuple[int, Any]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli_main(list(argv))
    return code, json.loads(out.getvalue()) if out.getvalue().strip() else None


def send(host: DevHostProcess, customer: str) -> tuple[str, str]:
    """One inbound text; (wamid, orchestration instance id)."""
    wamid = f"wamid.{uuid.uuid4().hex}=="
    doc = webhooks.text_message(wamid, customer, int(time.time()))
    assert send_webhook(host, doc) == 200
    (event,) = parse_body("meta", webhooks.body_of(doc), datetime.now(UTC)).events
    return wamid, event_instance_id(event)


def record_output(durable: DurableApi, instance_id: str) -> dict[str, Any] | None:
    status = durable.status(instance_id)
    if not status or status.get("runtimeStatus") != "Completed":
        return None
    output = status.get("output") or {}
    return output.get("record") if isinstance(output, dict) else None


def _probe(durable: DurableApi, instance_id: str) -> Callable[[], dict[str, Any] | None]:
    return lambda: record_output(durable, instance_id)


def test_hold_placed_while_events_arrive_covers_them(devhost: DevHostProcess) -> None:
    durable = DurableApi(DurableSettings(
        f"{devhost.url}/runtime/webhooks/durabletask", MASTER_KEY, "test"))
    customer, bystander = "1555" + str(uuid.uuid4().int % 10**7).zfill(7), "15550001111"
    before = send(devhost, customer)
    wait_for("the first record", _probe(durable, before[1]))  # cache loaded

    code, placed = cli("hold", "place", "--matter", "E2E-1", "--participant", customer,
                       "--reason", "regulator request", "--no-wait", "--json")
    assert code == 1 and placed["state"] == "applying"  # binding; settling pass still due
    assert placed["progress"]["records_done"] == 1

    during = [send(devhost, customer) for _ in range(2)]
    other = send(devhost, bystander)
    outputs: dict[str, dict[str, Any]] = {}
    for _wamid, iid in [*during, other]:
        outputs[iid] = wait_for("archived", _probe(durable, iid))
    assert "holds" not in outputs[other[1]]

    # Keep sending until devhost's cache has refreshed: the write itself reports the hold.
    after: list[tuple[str, str]] = []

    def held_at_write() -> dict[str, Any] | None:
        after.append(send(devhost, customer))
        iid = after[-1][1]
        found = wait_for("archived", _probe(durable, iid))
        return found if "holds" in found else None

    written = wait_for("a record held as it was written", held_at_write, timeout=60)
    assert written["holds"]["matters"] == ["E2E-1"]
    assert written["holds"]["result"] == "unsupported"  # Azurite: the table protects it

    for wamid, _iid in [before, *during, *after]:
        code, found = cli("hold", "check", "--message-id", wamid, "--json")
        assert code == 0 and [f["matters"] for f in found] == [["E2E-1"]]
    code, found = cli("hold", "check", "--message-id", other[0], "--json")
    assert [f["matters"] for f in found] == [[]]

    code, done = cli("hold", "resume", "--matter", "E2E-1", "--settle-seconds", "0", "--json")
    assert code == 0 and done["state"] == "active"
    assert done["progress"]["records_done"] == 1 + len(during) + len(after)
    code, listed = cli("hold", "list", "--json")
    assert [m["matter"] for m in listed] == ["E2E-1"] and listed[0]["in_force"]
