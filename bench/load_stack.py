"""Azurite + Graph stand-in + `python -m devhost` for load and fault runs (loopback only).

Reuses the test support: tests/support/media_server.py (Graph API media stand-in) and
tests/e2e/pipeline_harness.py (the devhost subprocess). Everything lives in one
work folder; Azurite keeps the same ports and data folder across restarts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from azure.data.tables import TableServiceClient

from archive.names import TASK_HUB
from bench.load_workload import Workload
from devhost.azurite import REPO_ROOT, Azurite
from storage.provision import ensure_archive_resources
from tests.e2e.pipeline_harness import DevHostProcess
from tests.support.media_server import MediaItem, MediaServer

TASK_HUB_TABLES = ("Instances",)  # devhost/durable/store.py: one table, one partition each


def write_host_json(path: Path, **queue_settings: Any) -> Path:
    """The repo's host.json with some `extensions.queues` values replaced."""
    config = json.loads((REPO_ROOT / "host.json").read_text())
    config["extensions"]["queues"].update(queue_settings)
    path.write_text(json.dumps(config, indent=2))
    return path


def create_task_hub_tables(conn: str) -> None:
    """The Durable task hub's tables (devhost's names), so they exist before the settle."""
    tables = TableServiceClient.from_connection_string(conn)
    for suffix in TASK_HUB_TABLES:
        tables.create_table_if_not_exists(f"{TASK_HUB}{suffix}")


class LoadStack:
    def __init__(
        self,
        workdir: Path,
        *,
        azurite: Azurite | None = None,
        host_json: Path | None = None,
        launcher: list[str] | None = None,
    ) -> None:
        self.workdir = workdir
        self._own_azurite = azurite is None
        self.azurite = azurite or Azurite(workdir / "azurite")
        self.media = MediaServer()
        self._media_started = False
        self.devhost = DevHostProcess(
            self.azurite.connection_string, self.media.base_url, workdir / "devhost.log",
            host_json=host_json, launcher=launcher,
        )

    @property
    def conn(self) -> str:
        return self.azurite.connection_string

    @property
    def webhook_url(self) -> str:
        return f"{self.devhost.url}/api/webhooks/meta"

    def start(self) -> LoadStack:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self._own_azurite:
            self.azurite.start()
        ensure_archive_resources(self.conn)
        create_task_hub_tables(self.conn)
        self.settle_azurite()
        self.media.start()
        self._media_started = True
        self.devhost.start()
        return self

    def settle_azurite(self) -> None:
        """Restart Azurite cleanly so just-created containers, queues and tables are saved.

        Azurite writes its metadata to disk every few seconds; a SIGKILL shortly after
        provisioning could lose them. A clean stop saves them, so a later outage is an
        outage of storage, not the loss of the account's resources. devhost rides
        through a restart, but its SDK clients then back off for up to ~15 s, so this
        runs before devhost starts.
        """
        self.azurite.stop()
        self.azurite.start()

    def serve(self, workload: Workload) -> None:
        for plan in workload.media.values():
            self.media.add(
                plan.media_id,
                MediaItem(data=plan.data, mime_type=plan.mime_type, script=plan.script,
                          always_404=plan.always_404),
            )

    def stop(self) -> None:
        try:
            self.devhost.stop()
        finally:
            if self._media_started:
                self.media.stop()
                self._media_started = False
            if self._own_azurite:
                self.azurite.stop()

    def __enter__(self) -> LoadStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
