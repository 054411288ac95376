"""Queue triggers with the storage extension's host.json `extensions.queues` semantics.

- Fetch up to batchSize messages; fetch again once in-flight work drops to
  newBatchThreshold. Idle polling backs off (randomised, doubling) from 100 ms
  to maxPollingInterval, and returns to 100 ms once a message arrives.
- Messages are fetched invisible for 10 minutes, renewed while the function
  runs, and deleted only after the function returns.
- On failure the message becomes visible again after visibilityTimeout; once
  its dequeue count reaches maxDequeueCount it is copied to `<queue>-poison`
  (same text) and deleted. A message that is not valid base64 under
  messageEncoding=base64 goes straight to the poison queue.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import random
from dataclasses import dataclass

from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
from azure.functions.queue import QueueMessage as FuncQueueMessage
from azure.storage.queue import QueueMessage as StorageMessage
from azure.storage.queue.aio import QueueClient

from devhost.bindings import DurableClientJson, invoke
from devhost.config import QueueOptions, resolve_setting_refs, storage_connection
from devhost.discovery import FunctionSpec

log = logging.getLogger("devhost.queues")
MIN_POLLING_INTERVAL = 0.1
FETCH_VISIBILITY = 600  # seconds a fetched message stays hidden, as the host's listener does
SHUTDOWN_GRACE = 10.0


class _Undecodable(ValueError):
    """Message text is not valid under the configured messageEncoding."""


def decode_body(text: str, encoding: str) -> bytes:
    if encoding == "none":
        return text.encode("utf-8")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _Undecodable("message is not valid base64") from exc


def next_poll_delay(current: float, found: bool, minimum: float, maximum: float) -> float:
    """Back to the minimum after a hit; otherwise double, jittered, up to the maximum."""
    if found:
        return minimum
    # Randomised like the host's backoff, so idle pollers do not poll in lockstep.
    return min(maximum, max(minimum, current * random.uniform(1.6, 2.0)))


def to_func_message(message: StorageMessage, body: bytes) -> FuncQueueMessage:
    return FuncQueueMessage(  # type: ignore[no-untyped-call]
        id=message.id,
        body=body,
        dequeue_count=message.dequeue_count,
        insertion_time=message.inserted_on,
        expiration_time=message.expires_on,
        time_next_visible=message.next_visible_on,
        pop_receipt=message.pop_receipt,
    )


@dataclass
class _Held:
    """A message this poller owns; pop_receipt changes on each visibility update."""

    message: StorageMessage
    pop_receipt: str


class QueuePoller:
    def __init__(
        self,
        spec: FunctionSpec,
        options: QueueOptions,
        durable_client_json: DurableClientJson | None = None,
    ) -> None:
        self.spec = spec
        self.options = options
        self.queue_name = resolve_setting_refs(str(spec.trigger["queueName"])).lower()
        connection = storage_connection(spec.trigger.get("connection"))
        self.client = QueueClient.from_connection_string(connection, self.queue_name)
        self.poison = QueueClient.from_connection_string(connection, f"{self.queue_name}-poison")
        self.durable_client_json = durable_client_json
        self._in_flight: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.min_interval = min(MIN_POLLING_INTERVAL, options.max_polling_interval)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"queue:{self.spec.name}")

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._in_flight:
            _, pending = await asyncio.wait(self._in_flight, timeout=SHUTDOWN_GRACE)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self.client.close()
        await self.poison.close()

    async def _run(self) -> None:
        delay = self.min_interval
        threshold = self.options.effective_new_batch_threshold
        while not self._stopping:
            async with self._changed:
                await self._changed.wait_for(lambda: len(self._in_flight) <= threshold)
            try:
                messages = await self._fetch()
            except AzureError as exc:
                log.warning("queue %s: fetch failed (%s)", self.queue_name, type(exc).__name__)
                messages = []
            for message in messages:
                task = asyncio.create_task(self._process(message))
                self._in_flight.add(task)
                task.add_done_callback(self._done)
            delay = next_poll_delay(
                delay, bool(messages), self.min_interval, self.options.max_polling_interval
            )
            await asyncio.sleep(delay)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)

        async def notify() -> None:
            async with self._changed:
                self._changed.notify_all()

        if not self._stopping:
            asyncio.get_running_loop().create_task(notify())

    async def _fetch(self) -> list[StorageMessage]:
        size = self.options.batch_size
        try:
            return [
                m
                async for m in self.client.receive_messages(
                    messages_per_page=size, max_messages=size, visibility_timeout=FETCH_VISIBILITY
                )
            ]
        except ResourceNotFoundError:
            return []  # the queue does not exist yet: idle, as the host treats it

    async def _process(self, message: StorageMessage) -> None:
        held = _Held(message, str(message.pop_receipt))
        if (message.dequeue_count or 0) > self.options.max_dequeue_count:
            await self._to_poison(held)
            return
        try:
            body = decode_body(str(message.content or ""), self.options.message_encoding)
        except _Undecodable:
            log.warning(
                "queue %s: message %s is not base64; moving to poison", self.queue_name, message.id
            )
            await self._to_poison(held)
            return
        renewer = asyncio.create_task(self._keep_hidden(held))
        try:
            await invoke(self.spec, to_func_message(message, body), self.durable_client_json)
        except asyncio.CancelledError:
            await self._release(held, 0)
            raise
        except Exception:
            log.exception("function %s failed on message %s", self.spec.name, message.id)
            await self._after_failure(held)
            return
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
        await self._delete(held)

    async def _keep_hidden(self, held: _Held) -> None:
        while True:
            await asyncio.sleep(FETCH_VISIBILITY / 2)
            await self._release(held, FETCH_VISIBILITY)

    async def _after_failure(self, held: _Held) -> None:
        if (held.message.dequeue_count or 0) >= self.options.max_dequeue_count:
            await self._to_poison(held)
        else:
            await self._release(held, int(self.options.visibility_timeout))

    async def _release(self, held: _Held, visibility_timeout: int) -> None:
        try:
            updated = await self.client.update_message(
                held.message, pop_receipt=held.pop_receipt, visibility_timeout=visibility_timeout
            )
            held.pop_receipt = str(updated.pop_receipt)
        except AzureError as exc:
            log.warning(
                "queue %s: visibility update failed (%s)", self.queue_name, type(exc).__name__
            )

    async def _delete(self, held: _Held) -> None:
        try:
            await self.client.delete_message(held.message, pop_receipt=held.pop_receipt)
        except AzureError as exc:
            log.warning("queue %s: delete failed (%s)", self.queue_name, type(exc).__name__)

    async def _to_poison(self, held: _Held) -> None:
        with contextlib.suppress(ResourceExistsError):
            await self.poison.create_queue()
        await self.poison.send_message(held.message.content)
        await self._delete(held)
        log.warning(
            "queue %s: message %s moved to %s-poison after %s dequeues",
            self.queue_name,
            held.message.id,
            self.queue_name,
            held.message.dequeue_count,
        )
