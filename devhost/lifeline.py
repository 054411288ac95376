"""Start child processes that die with this process (Linux: a parent-death signal).

A `kill -9` of `wa-archive dev` (or of a test run) otherwise leaves Azurite or a
devhost child running as an orphan that holds its ports. The kernel sends the
signal when the *thread* that forked the child ends, not the process, so every
child is forked from one long-lived thread: a caller in a short-lived thread
(`asyncio.to_thread`) must not take its child down when that thread finishes.
SIGTERM, not SIGKILL, so Azurite still saves its metadata on the way out.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
DEATH_SIGNAL = signal.SIGTERM

_spawner: ThreadPoolExecutor | None = None
_spawner_lock = threading.Lock()


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


# Resolved once, before any fork: the child must not load libraries between fork and exec.
_PRCTL = _load_prctl()


def supported() -> bool:
    """True when children started by `spawn` die with this process."""
    return _PRCTL is not None


def _executor() -> ThreadPoolExecutor:
    global _spawner
    with _spawner_lock:
        if _spawner is None:
            _spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="devhost-spawner")
        return _spawner


def spawn(args: Sequence[str], **popen_kwargs: Any) -> subprocess.Popen[Any]:
    """subprocess.Popen(args, **popen_kwargs), tied to this process's lifetime where supported."""
    prctl = _PRCTL
    if prctl is None:
        return subprocess.Popen(args, **popen_kwargs)
    parent = os.getpid()

    def tie_to_parent() -> None:  # runs in the child between fork and exec
        prctl(PR_SET_PDEATHSIG, int(DEATH_SIGNAL), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the signal was armed
            os._exit(1)

    def start() -> subprocess.Popen[Any]:
        return subprocess.Popen(args, preexec_fn=tie_to_parent, **popen_kwargs)

    return _executor().submit(start).result()
