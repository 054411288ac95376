"""A second terminal finds the Durable API of a running `wa-archive dev` by itself.

`wa-archive dev` writes `<data dir>/durable-api.json` (URL it really serves, master key,
pid) once it is ready and removes it on a clean stop. The admin commands that need the
Durable API (`failures` lists orchestrations, `replay --id orchestration:...` restarts
one) then work with nothing in the environment but the data folder. One `wa-archive
dev` run on the real function_app (free ports, `--port 0`: the settings file's default
URL would be wrong) covers it; the stale-file message is unit-tested in
tests/admin/test_durable_discovery.py.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from admin.durable_api import DISCOVERY_NAME, SETTING_DURABLE_KEY, SETTING_DURABLE_URL
from archive.names import SETTING_ARCHIVE_STORAGE
from tests.devhost.test_dev_command import REPO, DevProcess

pytestmark = pytest.mark.e2e


def _admin(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if k not in (SETTING_DURABLE_URL, SETTING_DURABLE_KEY, SETTING_ARCHIVE_STORAGE,
                        "WA_ARCHIVE_DATA_DIR")}
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args, "--data-dir", str(data_dir)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
    )


def test_admin_commands_find_a_running_dev_through_the_discovery_file(tmp_path: Path) -> None:
    data_dir = tmp_path / "wa-data"
    dev = DevProcess([
        sys.executable, "-m", "cli.main", "dev", "--data-dir", str(data_dir),
        "--port", "0", "--rpc-port", "0", "--azurite-ports", "auto",
    ])
    try:
        url = dev.wait_ready()
        path = data_dir / DISCOVERY_NAME
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        found = json.loads(path.read_text())
        settings = json.loads((data_dir / "settings.json").read_text())
        assert found[SETTING_DURABLE_URL] == f"{url}/runtime/webhooks/durabletask"
        assert found[SETTING_DURABLE_KEY] == settings["DEVHOST_MASTER_KEY"]
        assert found["pid"] == dev.proc.pid
        assert not url.endswith(":7071")  # the settings file's default would miss it

        listed = _admin(data_dir, "failures", "--json")
        assert listed.returncode == 0, listed.stderr
        assert "not listed" not in listed.stderr  # orchestrations were queried
        assert json.loads(listed.stdout) == []

        # A restart asks the Durable API for the instance first: it answers "not there".
        replay = _admin(data_dir, "replay", "--id", "orchestration:no-such-instance")
        assert replay.returncode == 2
        assert "orchestration 'no-such-instance' does not exist" in replay.stderr
        assert "not configured" not in replay.stderr and "cannot reach" not in replay.stderr

        health = _admin(data_dir, "status", "--json", "--seal-schedule", "0 0 0 1 1 *")
        assert json.loads(health.stdout)["checks"]["ingest_poison"]["level"] == "ok"
    finally:
        code = dev.interrupt()
    assert code == 0
    assert not (data_dir / DISCOVERY_NAME).exists()  # a clean stop removes it
