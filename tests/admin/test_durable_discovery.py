"""The Durable API discovery file `wa-archive dev` writes: precedence, trust, staleness."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from admin.durable_api import (
    DISCOVERY_NAME,
    SETTING_DURABLE_KEY,
    SETTING_DURABLE_URL,
    DurableApi,
    DurableApiError,
    durable_settings,
    process_alive,
    remove_discovery,
    write_discovery,
)
from archive.names import SETTING_ARCHIVE_STORAGE

URL = "http://127.0.0.1:45678/runtime/webhooks/durabletask"


@pytest.fixture
def data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No Durable settings in the environment; an empty project data folder."""
    for name in (SETTING_ARCHIVE_STORAGE, SETTING_DURABLE_URL, SETTING_DURABLE_KEY):
        monkeypatch.delenv(name, raising=False)
    folder = tmp_path / "data"
    folder.mkdir(mode=0o700)
    monkeypatch.setenv("WA_ARCHIVE_DATA_DIR", str(folder))
    monkeypatch.setattr("admin.connection._REPO_ROOT", tmp_path / "no-repo")
    return folder


def settings_json(folder: Path, values: dict[str, str]) -> None:
    path = folder / "settings.json"
    path.write_text(json.dumps(values), encoding="utf-8")
    path.chmod(0o600)


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def refusing_transport(*_args: object) -> tuple[int, dict[str, str], bytes]:
    raise ConnectionRefusedError(111, "Connection refused")


def test_the_file_is_owner_only_and_holds_url_key_and_pid(data: Path) -> None:
    path = write_discovery(data, URL + "/", "master-key")
    assert path == data / DISCOVERY_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    doc = json.loads(path.read_text())
    assert doc[SETTING_DURABLE_URL] == URL and doc[SETTING_DURABLE_KEY] == "master-key"
    assert doc["pid"] == os.getpid()
    assert [p.name for p in data.iterdir()] == [DISCOVERY_NAME]  # no temp file left


def test_discovery_file_alone_configures_the_durable_api(data: Path) -> None:
    write_discovery(data, URL, "master-key")
    found = durable_settings()
    assert found is not None
    assert (found.base_url, found.key, found.pid) == (URL, "master-key", os.getpid())
    assert found.source == str(data / DISCOVERY_NAME)


def test_discovery_file_beats_the_settings_default_url(data: Path) -> None:
    # settings.json alone means the default port; a running dev knows its real one.
    settings_json(data, {"DEVHOST_MASTER_KEY": "old"})
    write_discovery(data, URL, "master-key")
    found = durable_settings()
    assert found is not None and (found.base_url, found.key) == (URL, "master-key")


def test_environment_and_an_explicit_settings_url_keep_priority(
    data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_discovery(data, URL, "master-key")
    settings_json(data, {SETTING_DURABLE_URL: "https://app.example/runtime/webhooks/durabletask",
                         SETTING_DURABLE_KEY: "file-key"})
    found = durable_settings()
    assert found is not None and found.key == "file-key" and found.pid is None
    monkeypatch.setenv(SETTING_DURABLE_URL, "https://env.example/durable")
    monkeypatch.setenv(SETTING_DURABLE_KEY, "env-key")
    found = durable_settings()
    assert found is not None and (found.base_url, found.key) == (
        "https://env.example/durable", "env-key")


def test_an_environment_key_alone_is_still_refused(
    data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_discovery(data, URL, "master-key")
    monkeypatch.setenv(SETTING_DURABLE_KEY, "production-system-key")
    with pytest.raises(DurableApiError, match=f"{SETTING_DURABLE_URL} is not"):
        durable_settings()


def test_a_stale_file_says_dev_is_not_running(data: Path) -> None:
    gone = dead_pid()
    write_discovery(data, URL, "master-key", pid=gone)
    found = durable_settings()
    assert found is not None
    api = DurableApi(found, transport=refusing_transport)
    with pytest.raises(DurableApiError) as caught:
        api.query_page()
    assert str(caught.value) == f"wa-archive dev is not running (started pid {gone}, gone)"


def test_dev_stopping_after_the_lookup_gives_the_same_message(data: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        write_discovery(data, URL, "master-key", pid=proc.pid)
        found = durable_settings()
        assert found is not None
    finally:
        proc.kill()
        proc.wait()
    with pytest.raises(DurableApiError, match=f"started pid {proc.pid}, gone"):
        DurableApi(found, transport=refusing_transport).query_page()


def test_a_reused_pid_is_not_taken_for_dev(data: Path) -> None:
    write_discovery(data, URL, "master-key")
    doc = json.loads((data / DISCOVERY_NAME).read_text())
    assert process_alive(doc["pid"], doc["pid_start"])
    if doc["pid_start"] is None:
        pytest.skip("no /proc start times here")
    assert not process_alive(doc["pid"], str(int(doc["pid_start"]) + 1))


def test_a_live_dev_that_refuses_gives_the_connection_error(data: Path) -> None:
    write_discovery(data, URL, "master-key")
    found = durable_settings()
    assert found is not None
    with pytest.raises(DurableApiError, match="cannot reach the Durable API"):
        DurableApi(found, transport=refusing_transport).query_page()


def test_a_loose_discovery_file_is_refused(data: Path) -> None:
    path = write_discovery(data, URL, "master-key")
    path.chmod(0o622)
    with pytest.raises(DurableApiError, match="refusing"):
        durable_settings()


def test_remove_only_removes_its_own_file(data: Path) -> None:
    write_discovery(data, URL, "master-key", pid=os.getpid() + 100000)
    remove_discovery(data)
    assert (data / DISCOVERY_NAME).exists()  # another run's file stays
    write_discovery(data, URL, "master-key")
    remove_discovery(data)
    assert not (data / DISCOVERY_NAME).exists()
    remove_discovery(data)  # nothing there: fine
