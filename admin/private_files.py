"""Owner-only JSON files in the data folder (`settings.json`, `durable-api.json`): they hold
keys and URLs, so they are written atomically with mode 0600 and read only when this user
owns them and nobody else can write them."""

from __future__ import annotations

import json
import os
import secrets
import stat
from pathlib import Path
from typing import Any


def is_private_file(path: Path) -> bool:
    """Owned by this user and writable by nobody else."""
    try:
        info = path.stat()
    except OSError:
        return False
    if not stat.S_ISREG(info.st_mode):
        return False
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        return False
    return not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def read_private_json(path: Path, refuse: type[Exception]) -> Any | None:
    """The file's JSON; None when absent or unreadable (half-written by hand, say).

    Raises `refuse` when someone else owns it or can write it: its URLs and keys would
    then be theirs to choose.
    """
    if not path.is_file():
        return None
    if not is_private_file(path):
        raise refuse(
            f"refusing {path}: it must belong to you and not be writable by others "
            f"(chmod 600 {path})"
        )
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_private_json(path: Path, doc: Any) -> Path:
    """Write `doc` atomically (a fresh temp file, fsync, rename), owner-only."""
    tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), 0o600)  # exact, whatever the umask
            json.dump(doc, handle, indent=2, sort_keys=True)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
