"""`wa-archive dev` creates the local seal signing key once, owner-only, and keeps it."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from archive.names import SETTING_MANIFEST_KEY_ID, SETTING_SEAL_SCHEDULE, SETTING_VERIFY_SCHEDULE
from cli.dev import load_or_create_settings, save_settings
from orchestrations.seal_day import DEFAULT_SEAL_SCHEDULE
from storage.signing import signer_from_setting, verify_es256

pytestmark = pytest.mark.devhost


def test_dev_settings_create_a_p256_key_file_once_and_the_seal_schedules(tmp_path: Path) -> None:
    path = tmp_path / "data" / "settings.json"
    first = load_or_create_settings(path)
    setting = first[SETTING_MANIFEST_KEY_ID]
    assert setting == f"file:{tmp_path / 'data' / 'seal-signing-key.pem'}"
    key_file = Path(setting.removeprefix("file:"))
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert first[SETTING_SEAL_SCHEDULE] == DEFAULT_SEAL_SCHEDULE
    assert SETTING_VERIFY_SCHEDULE in first
    signer = signer_from_setting(setting)
    assert verify_es256(signer.public_key(), b"x", signer.sign(b"x"))
    save_settings(path, first)
    pem = key_file.read_bytes()
    assert load_or_create_settings(path)[SETTING_MANIFEST_KEY_ID] == setting
    assert key_file.read_bytes() == pem  # kept: seals signed earlier stay verifiable
