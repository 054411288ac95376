"""Gauges the pipeline cannot emit as it goes: queue backlog and unresolved settings.

Called every minute by the `pipeline_gauges` timer (ingest.housekeeping). Per queue:
one Get Queue Properties (approximate depth) and, when the queue is not empty, one
Peek Messages for the age of the message at its front. Settings: the process
environment is scanned for values that are still a Key Vault or App Configuration
reference text (App Service passes the reference itself when it cannot resolve it);
only the setting's name is emitted, never its value.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.queue import QueueClient

import telemetry
from storage.settings import UNRESOLVED_REFERENCE_PREFIXES

log = logging.getLogger("wa_archive.telemetry")


def queue_backlog(queue: QueueClient, now: datetime | None = None
                  ) -> tuple[int, float | None]:
    """(approximate depth, age in seconds of the message at the front: 0 when empty, None
    when it cannot be read, e.g. a message the client cannot decode)."""
    try:
        depth = int(queue.get_queue_properties().approximate_message_count or 0)
    except ResourceNotFoundError:
        return 0, 0.0
    if depth == 0:
        return 0, 0.0
    try:
        front = list(queue.peek_messages(max_messages=1))
    except Exception:
        log.warning("oldest message of %s could not be read", queue.queue_name)
        return depth, None
    inserted = front[0].inserted_on if front else None
    if inserted is None:
        return depth, None
    at = now or datetime.now(UTC)
    return depth, max((at - inserted).total_seconds(), 0.0)


def observe_queues(queues: Iterable[QueueClient], now: datetime | None = None) -> None:
    """Emit wa_archive.queue.depth and .oldest_age for each queue; never raises."""
    for queue in queues:
        try:
            depth, age = queue_backlog(queue, now)
        except Exception:
            log.warning("queue backlog of %s could not be read", queue.queue_name)
            continue
        telemetry.queue_depth(queue.queue_name, depth, age)


def setting_dimension(name: str) -> str:
    """An environment variable's name as the `setting` dimension (upper-case identifier)."""
    return re.sub(r"[^A-Z0-9_]", "_", name.upper())[:64] or "UNNAMED"


def unresolved_settings(environ: Mapping[str, str] | None = None) -> list[str]:
    """Names of settings whose value is still an unresolved reference (sorted)."""
    env = os.environ if environ is None else environ
    return sorted(setting_dimension(name) for name, value in env.items()
                  if value.strip().startswith(UNRESOLVED_REFERENCE_PREFIXES))


def observe_settings(environ: Mapping[str, str] | None = None) -> list[str]:
    """Emit wa_archive.settings.unresolved once per unresolved setting; returns the names."""
    names = unresolved_settings(environ)
    for name in names:
        telemetry.unresolved_setting(name)
    return names
