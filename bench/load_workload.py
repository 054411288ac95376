"""A seeded mix of signed-webhook bodies for load and fault runs, and what they should archive.

The mix follows what Meta actually delivers: single text messages, media messages
(bytes served by the local Graph stand-in), webhooks carrying several messages,
statuses of one outbound message delivered out of order (sometimes `read` with no
`delivered`), and ~10% exact byte-for-byte redeliveries of earlier bodies.

The generator counts the events it puts in every body itself; the verifier
derives record names through the archive's parser and checks both agree, so a
parser that silently drops an event cannot make a run look complete.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.support import webhooks

T0 = 1764158400  # 2025-11-26T12:00:00Z
STATUS_ORDER = ("sent", "delivered", "read")
MEDIA_KINDS = (("image", "image/jpeg"), ("document", "application/pdf"), ("audio", "audio/ogg"))


@dataclass(frozen=True)
class MediaPlan:
    """One media id the Graph stand-in serves; `script` lists lookup answers before success."""

    media_id: str
    data: bytes
    mime_type: str
    script: tuple[int | str, ...] = ()
    always_404: bool = False

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def expected_state(self) -> str:
        return "unavailable" if self.always_404 else "stored"


@dataclass
class Workload:
    deliveries: list[bytes] = field(default_factory=list)  # in send order, duplicates included
    unique_bodies: list[bytes] = field(default_factory=list)
    events_per_body: dict[str, int] = field(default_factory=dict)  # body sha256 -> events
    media: dict[str, MediaPlan] = field(default_factory=dict)
    latest_status: dict[str, str] = field(default_factory=dict)  # wamid -> expected latest
    duplicates: int = 0

    @property
    def expected_events(self) -> int:
        return sum(self.events_per_body.values())

    def add(self, doc: dict[str, Any], events: int) -> bytes:
        body = webhooks.body_of(doc)
        self.unique_bodies.append(body)
        self.events_per_body[hashlib.sha256(body).hexdigest()] = events
        return body


def _message(
    kind: str, wamid: str, sender: str, ts: int, media: MediaPlan | None
) -> dict[str, Any]:
    item: dict[str, Any] = {"from": sender, "id": wamid, "timestamp": str(ts), "type": kind}
    if media is None:
        item["text"] = {"body": f"load message {wamid[-8:]}"}
    else:
        item[kind] = {"id": media.media_id, "mime_type": media.mime_type, "sha256": media.sha256}
    return item


def _messages_doc(sender: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    return webhooks.envelope(
        {"contacts": [{"profile": {"name": "Client"}, "wa_id": sender}], "messages": items}
    )


def _statuses_doc(items: list[dict[str, Any]]) -> dict[str, Any]:
    return webhooks.envelope({"statuses": items})


class WorkloadBuilder:
    """Builds bodies with unique, encoding-hostile wamids (`/ + =`) for one run."""

    def __init__(self, seed: int = 7, run: str | None = None, customers: int = 40) -> None:
        self.rng = random.Random(seed)
        self.run = run or uuid.uuid4().hex[:8]
        self.customers = [f"1555{self.rng.randrange(10**7):07d}" for _ in range(customers)]
        self.workload = Workload()
        self._serial = 0

    def _wamid(self) -> str:
        self._serial += 1
        return f"wamid.HBgL{self.run}/{self._serial:06d}+Q=="

    def _ts(self) -> int:
        # Spread over ~4 days so the by-day index gets several partitions.
        return T0 + self._serial * 67

    def media_plan(self, kind_mime: tuple[str, str], **behaviour: Any) -> MediaPlan:
        self._serial += 1
        size = self.rng.randrange(1_000, 40_000)
        plan = MediaPlan(
            media_id=f"{self.run}{self._serial:06d}",
            data=self.rng.randbytes(size),
            mime_type=kind_mime[1],
            **behaviour,
        )
        self.workload.media[plan.media_id] = plan
        return plan

    def text(self) -> bytes:
        sender = self.rng.choice(self.customers)
        wamid = self._wamid()
        return self.workload.add(
            _messages_doc(sender, [_message("text", wamid, sender, self._ts(), None)]), 1
        )

    def media_message(self, **behaviour: Any) -> bytes:
        kind_mime = self.rng.choice(MEDIA_KINDS)
        plan = self.media_plan(kind_mime, **behaviour)
        sender = self.rng.choice(self.customers)
        item = _message(kind_mime[0], self._wamid(), sender, self._ts(), plan)
        return self.workload.add(_messages_doc(sender, [item]), 1)

    def multi_message(self) -> bytes:
        """One webhook, several messages of one sender: 2-4 texts, sometimes plus a media item."""
        sender = self.rng.choice(self.customers)
        items = [
            _message("text", self._wamid(), sender, self._ts(), None)
            for _ in range(self.rng.randrange(2, 5))
        ]
        if self.rng.random() < 0.3:
            kind_mime = self.rng.choice(MEDIA_KINDS)
            plan = self.media_plan(kind_mime)
            items.append(_message(kind_mime[0], self._wamid(), sender, self._ts(), plan))
        return self.workload.add(_messages_doc(sender, items), len(items))

    def status_run(self) -> list[bytes]:
        """Statuses of one outbound message, one webhook each, in shuffled order.

        A third of them skip `delivered` (Meta sends `read` without it); some runs put two
        statuses in one webhook.
        """
        recipient = self.rng.choice(self.customers)
        wamid = self._wamid()
        values = [v for v in STATUS_ORDER if not (v == "delivered" and self.rng.random() < 0.33)]
        base = self._ts()
        items = [
            {"id": wamid, "status": v, "timestamp": str(base + 5 * STATUS_ORDER.index(v)),
             "recipient_id": recipient}
            for v in values
        ]
        self.rng.shuffle(items)
        if len(items) == 3 and self.rng.random() < 0.3:
            return [self.workload.add(_statuses_doc(items[:2]), 2),
                    self.workload.add(_statuses_doc(items[2:]), 1)]
        return [self.workload.add(_statuses_doc([item]), 1) for item in items]

    def finish(self) -> Workload:
        """Every body built so far, sent once each, in build order."""
        self.workload.deliveries = list(self.workload.unique_bodies)
        self.workload.latest_status = latest_statuses(self.workload.unique_bodies)
        return self.workload


def build_workload(webhooks_total: int, *, seed: int = 7, run: str | None = None,
                   duplicate_share: float = 0.10) -> Workload:
    """`webhooks_total` deliveries: the mix above, `duplicate_share` of them exact redeliveries."""
    builder = WorkloadBuilder(seed=seed, run=run)
    rng = builder.rng
    duplicates = int(webhooks_total * duplicate_share)
    originals: list[bytes] = []
    while len(originals) < webhooks_total - duplicates:
        roll = rng.random()
        if roll < 0.50:
            originals.append(builder.text())
        elif roll < 0.65:
            originals.append(builder.media_message())
        elif roll < 0.77:
            originals.append(builder.multi_message())
        else:
            originals.extend(builder.status_run())
    originals = originals[: webhooks_total - duplicates]
    _trim_unsent(builder.workload, originals)
    # Redeliveries land later than their original, at random places in the stream.
    deliveries = list(originals)
    for _ in range(duplicates):
        copy = rng.choice(originals)
        position = rng.randrange(deliveries.index(copy) + 1, len(deliveries) + 1)
        deliveries.insert(position, copy)
    builder.workload.deliveries = deliveries
    builder.workload.duplicates = duplicates
    return builder.workload


def _trim_unsent(workload: Workload, sent: list[bytes]) -> None:
    """Forget bodies cut off by the total (the last status run may overshoot)."""
    kept = set(sent)
    for body in [b for b in workload.unique_bodies if b not in kept]:
        workload.events_per_body.pop(hashlib.sha256(body).hexdigest(), None)
    workload.unique_bodies = [b for b in workload.unique_bodies if b in kept]
    workload.latest_status = latest_statuses(workload.unique_bodies)


def latest_statuses(bodies: list[bytes]) -> dict[str, str]:
    """Per wamid, the status furthest along sent < delivered < read among those sent."""
    latest: dict[str, str] = {}
    for body in bodies:
        for entry in json.loads(body).get("entry", ()):
            for change in entry.get("changes", ()):
                for item in change.get("value", {}).get("statuses", ()):
                    current = latest.get(item["id"])
                    if current is None or (
                        STATUS_ORDER.index(item["status"]) > STATUS_ORDER.index(current)
                    ):
                        latest[item["id"]] = item["status"]
    return latest
