"""A loopback reverse proxy in front of Azurite that counts every storage call.

One listener per service (blob, queue, table) forwards each request unchanged to
Azurite and records (service, resource, method, operation). Shared Key signatures
do not cover the Host header, so clients just use the proxy's ports in their
connection string. Runs its own event loop in a thread, so the caller may block.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from yarl import URL

from devhost.azurite import ACCOUNT_KEY, ACCOUNT_NAME, AzuriteEndpoints

# Hop-by-hop or recomputed headers; everything else passes through untouched.
_DROP_REQUEST = frozenset({"host", "connection", "keep-alive", "transfer-encoding",
                           "content-length"})
_DROP_RESPONSE = frozenset({"connection", "keep-alive", "transfer-encoding", "content-encoding"})
_BATCH_TABLE = re.compile(rb"(?:GET|PUT|POST|MERGE|PATCH|DELETE) \S*?/([A-Za-z][A-Za-z0-9]*)[(? ]")


@dataclass(frozen=True)
class Call:
    service: str  # blob | queue | table
    resource: str  # container, queue or table name ("" for the service itself)
    method: str
    operation: str  # comp=..., $batch, messages, entity, ...
    empty: bool  # a queue receive that returned no message (an idle poll)
    at: float


def _resource_and_operation(
    service: str, method: str, path: str, query: dict[str, str], body: bytes
) -> tuple[str, str]:
    parts = [p for p in path.split("/") if p][1:]  # drop the account name
    if service == "table":
        first = parts[0] if parts else ""
        if first == "$batch":
            found = _BATCH_TABLE.search(body)
            return (found.group(1).decode() if found else "?"), "$batch"
        name = first.split("(", 1)[0]
        if name == "Tables":
            return name, "tables"
        if "(" in first and not first.endswith("()"):
            return name, "entity"
        return name, "insert" if method == "POST" else "query"
    resource = parts[0] if parts else ""
    if service == "queue" and len(parts) >= 2:
        return resource, "messages"
    comp = query.get("comp") or ("blob" if len(parts) >= 2 else query.get("restype", ""))
    return resource, comp


class CountingProxy:
    def __init__(self, upstream: AzuriteEndpoints) -> None:
        self.upstream = upstream
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runners: list[web.AppRunner] = []
        self._session: aiohttp.ClientSession | None = None
        self.ports: dict[str, int] = {}

    @property
    def connection_string(self) -> str:
        base = "http://127.0.0.1"
        return (
            "DefaultEndpointsProtocol=http;"
            f"AccountName={ACCOUNT_NAME};AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint={base}:{self.ports['blob']}/{ACCOUNT_NAME};"
            f"QueueEndpoint={base}:{self.ports['queue']}/{ACCOUNT_NAME};"
            f"TableEndpoint={base}:{self.ports['table']}/{ACCOUNT_NAME};"
        )

    def start(self) -> CountingProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def take(self) -> list[Call]:
        """The calls counted since the last take()."""
        with self._lock:
            calls, self.calls = self.calls, []
        return calls

    def last_busy(self) -> float:
        """When the last call that was not an idle queue poll arrived (monotonic)."""
        with self._lock:
            busy = [c.at for c in self.calls if not c.empty]
        return max(busy, default=0.0)

    async def _start(self) -> None:
        self._session = aiohttp.ClientSession(auto_decompress=False)
        targets = {"blob": self.upstream.blob_port, "queue": self.upstream.queue_port,
                   "table": self.upstream.table_port}
        for service, port in targets.items():
            app = web.Application(client_max_size=512 * 1024 * 1024)
            app.router.add_route("*", "/{tail:.*}", self._handler(service, port))
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self._runners.append(runner)
            self.ports[service] = int(runner.addresses[0][1])

    async def _stop(self) -> None:
        for runner in self._runners:
            await runner.cleanup()
        if self._session is not None:
            await self._session.close()

    def _handler(self, service: str, port: int) -> Any:
        async def forward(request: web.Request) -> web.StreamResponse:
            assert self._session is not None
            body = await request.read()
            headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROP_REQUEST}
            # The raw path, byte for byte: the Shared Key signature covers its encoding.
            url = URL(f"http://{self.upstream.host}:{port}{request.raw_path}", encoded=True)
            async with self._session.request(
                request.method, url, headers=headers, data=body or None,
                allow_redirects=False, skip_auto_headers=("Content-Type",),
            ) as upstream:
                data = await upstream.read()
                out = [(k, v) for k, v in upstream.headers.items()
                       if k.lower() not in _DROP_RESPONSE]
                status = upstream.status
            resource, operation = _resource_and_operation(
                service, request.method, request.path, dict(request.query), body)
            empty = (service == "queue" and request.method == "GET"
                     and operation == "messages" and b"<QueueMessage>" not in data)
            with self._lock:
                self.calls.append(Call(service, resource, request.method, operation, empty,
                                       time.monotonic()))
            response = web.Response(status=status, body=data if request.method != "HEAD" else None)
            for key, value in out:
                if key.lower() == "content-length" and request.method != "HEAD":
                    continue
                response.headers.add(key, value)
            return response

        return forward


def summarize(calls: list[Call]) -> Counter[tuple[str, str, str, str]]:
    return Counter((c.service, c.resource, c.method, c.operation) for c in calls if not c.empty)
