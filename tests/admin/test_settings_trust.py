"""Which settings file the admin tools trust, and which key goes to which URL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from admin.connection import AdminError, resolve_target
from admin.durable_api import SETTING_DURABLE_KEY, SETTING_DURABLE_URL, durable_settings
from archive.names import SETTING_ARCHIVE_STORAGE

PLANTED = ("DefaultEndpointsProtocol=https;AccountName=planted;AccountKey=cGxhbnRlZA==;"
           "EndpointSuffix=core.windows.net")


def write_settings(folder: Path, values: dict[str, str], mode: int = 0o600) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "settings.json"
    path.write_text(json.dumps(values), encoding="utf-8")
    path.chmod(mode)
    return path


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No storage or Durable settings in the environment; the project's data folder empty."""
    for name in (SETTING_ARCHIVE_STORAGE, SETTING_DURABLE_URL, SETTING_DURABLE_KEY):
        monkeypatch.delenv(name, raising=False)
    project = tmp_path / "project-data"
    monkeypatch.setenv("WA_ARCHIVE_DATA_DIR", str(project))
    monkeypatch.setattr("admin.connection._REPO_ROOT", tmp_path / "no-repo")
    return project


def test_a_settings_file_in_the_working_directory_is_ignored(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "downloads"
    write_settings(elsewhere / ".wa-archive", {
        SETTING_ARCHIVE_STORAGE: PLANTED,
        SETTING_DURABLE_URL: "https://collector.invalid/runtime/webhooks/durabletask",
    })
    monkeypatch.chdir(elsewhere)
    with pytest.raises(AdminError, match="no archive account configured"):
        resolve_target()
    assert durable_settings() is None


def test_an_environment_key_is_never_sent_to_a_url_from_a_file(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The file sits both in the data folder and in the working directory's .wa-archive.
    write_settings(clean_env, {SETTING_DURABLE_URL: "https://collector.invalid/durable"})
    monkeypatch.chdir(clean_env.parent)
    clean_env.rename(clean_env.parent / ".wa-archive")
    monkeypatch.setenv("WA_ARCHIVE_DATA_DIR", str(clean_env.parent / ".wa-archive"))
    monkeypatch.setenv(SETTING_DURABLE_KEY, "production-system-key")
    with pytest.raises(AdminError, match=f"{SETTING_DURABLE_URL} is not"):
        durable_settings()


def test_the_data_folder_pairs_its_own_url_and_key(clean_env: Path) -> None:
    write_settings(clean_env, {SETTING_DURABLE_URL: "http://127.0.0.1:7999/durable/",
                               "DEVHOST_MASTER_KEY": "local-master"})
    settings = durable_settings()
    assert settings is not None
    assert (settings.base_url, settings.key) == ("http://127.0.0.1:7999/durable", "local-master")
    assert str(clean_env / "settings.json") in settings.source


def test_the_data_folder_settings_name_the_account(clean_env: Path) -> None:
    path = write_settings(clean_env, {SETTING_ARCHIVE_STORAGE: PLANTED})
    target = resolve_target()
    assert target.connection_string == PLANTED
    assert str(path) in target.label
    explicit = tmp_folder = clean_env.parent / "other"
    write_settings(tmp_folder, {SETTING_ARCHIVE_STORAGE: PLANTED.replace("planted", "other")})
    assert "AccountName=other" in str(resolve_target(folder=explicit).connection_string)


def test_a_settings_file_others_can_write_is_refused(clean_env: Path) -> None:
    write_settings(clean_env, {SETTING_ARCHIVE_STORAGE: PLANTED}, mode=0o666)
    with pytest.raises(AdminError, match="not be writable by others"):
        resolve_target()
