"""`wa-archive dev` settings hygiene: owner-only files and folders, secrets never printed."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from archive.names import SETTING_CUSTODY_MAC_KEY
from cli.dev import load_or_create_settings, mask, prepare_data_dir, save_settings

pytestmark = pytest.mark.devhost


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_loose_leftover_tmp_does_not_loosen_settings_json(tmp_path: Path) -> None:
    folder = tmp_path / ".wa-archive"
    folder.mkdir()
    leftover = folder / "settings.tmp"  # a crash between create and rename left it behind
    leftover.write_text("{}")
    leftover.chmod(0o644)
    save_settings(folder / "settings.json", {"WHATSAPP_APP_SECRET": "s3cret"})
    assert _mode(folder / "settings.json") == 0o600
    assert json.loads((folder / "settings.json").read_text()) == {"WHATSAPP_APP_SECRET": "s3cret"}
    assert not leftover.exists()


def test_the_data_folder_is_created_owner_only(tmp_path: Path) -> None:
    folder = tmp_path / "fresh" / ".wa-archive"
    save_settings(folder / "settings.json", {"A": "b"})
    assert _mode(folder) == 0o700


def test_an_existing_loose_data_folder_is_tightened(tmp_path: Path) -> None:
    folder = tmp_path / ".wa-archive"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    prepare_data_dir(folder)
    assert _mode(folder) == 0o700


def test_a_custody_mac_key_is_generated_once_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    first = load_or_create_settings(path)
    key = first[SETTING_CUSTODY_MAC_KEY]
    assert len(bytes.fromhex(key)) >= 32
    save_settings(path, first)
    assert load_or_create_settings(path)[SETTING_CUSTODY_MAC_KEY] == key


@pytest.mark.unit
@pytest.mark.parametrize(
    "name, value",
    [
        ("WHATSAPP_APP_SECRET", "abc=def;ghi"),  # a secret that merely contains = and ;
        ("WHATSAPP_ACCESS_TOKEN", "EAAB;x=1"),
        ("CUSTODY_MAC_KEY", "k=v;"),
    ],
)
def test_mask_hides_secret_values_that_look_like_connection_strings(name: str, value: str) -> None:
    shown = mask(name, value)
    assert value not in shown
    assert "abc" not in shown and "EAAB" not in shown and "k=v" not in shown


@pytest.mark.unit
def test_mask_keeps_connection_string_endpoints_and_hides_their_keys() -> None:
    conn = (
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=SECRETKEY==;"
        "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
    )
    shown = mask("AzureWebJobsStorage", conn)
    assert "SECRETKEY" not in shown
    assert "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1" in shown


@pytest.mark.unit
def test_mask_hides_a_secret_named_connection_string_with_an_unknown_key_part() -> None:
    shown = mask("SOME_API_KEY", "Endpoint=https://x;Password=hunter2;")
    assert "hunter2" not in shown


@pytest.mark.unit
def test_mask_leaves_plain_settings_alone() -> None:
    assert mask("WHATSAPP_GRAPH_URL", "https://graph.facebook.com/v21.0") == (
        "https://graph.facebook.com/v21.0"
    )
