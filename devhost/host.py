"""DevHost: runs one Functions app (HTTP, queue, timer and Durable functions) against Azurite."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import logging
import os
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from devhost.config import HOST_STORAGE_SETTING, ConfigError, HostConfig
from devhost.discovery import DiscoveryError, FunctionSpec, discover
from devhost.http_server import DURABLE_WEBHOOK_PREFIX, HttpTriggers, key_middleware
from devhost.keys import KeyRing
from devhost.queues import QueuePoller
from devhost.timers import TimerRunner

log = logging.getLogger("devhost")
DEFAULT_PORT = 7071
DEFAULT_RPC_PORT = 17071
LOOPBACK = "127.0.0.1"
DURABLE_TRIGGERS = frozenset({"orchestrationTrigger", "activityTrigger"})
RPC_PREFIX = "/durabletask/"
SHUTDOWN_GRACE = 10.0  # seconds in-flight HTTP requests get on stop


class DurableRuntimeLike(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    def add_routes(self, app: web.Application, prefix: str) -> None: ...
    def client_binding_json(self, binding: dict[str, Any]) -> str: ...


def uses_durable(specs: list[FunctionSpec]) -> bool:
    return any(
        s.trigger_type in DURABLE_TRIGGERS or s.binding_of_type("durableClient") is not None
        for s in specs
    )


def durable_runtime_class() -> Any:
    """devhost.durable.DurableRuntime, or None while that package does not exist."""
    spec = importlib.util.find_spec("devhost.durable")
    if spec is None or spec.origin is None:  # absent, or a bare folder without __init__.py
        return None
    # Imported normally so a real error inside the package is not mistaken for absence.
    return importlib.import_module("devhost.durable").DurableRuntime


async def _release_durable_sdk_session() -> None:
    """Close the SDK client's process-wide aiohttp session, which is bound to this loop.

    DurableOrchestrationClient shares one session per process; left open it leaks
    at exit and breaks the next host started on another loop (tests).
    """
    try:
        from azure.durable_functions.models.utils import http_utils
    except ImportError:
        return
    close = getattr(http_utils, "_close_session", None)
    if close is not None:
        await close()
    if hasattr(http_utils, "_session_lock"):
        http_utils._client_session = None
        http_utils._session_lock = asyncio.Lock()


def _bound_port(runner: web.AppRunner) -> int:
    address = runner.addresses[0]
    return int(address[1])


class DevHost:
    def __init__(
        self,
        app: str | Path,
        *,
        host_json: Path | None = None,
        host: str = LOOPBACK,
        port: int = DEFAULT_PORT,
        rpc_port: int = DEFAULT_RPC_PORT,
        keys: KeyRing | None = None,
    ) -> None:
        self.app_target = app
        self.host_json = host_json if host_json is not None else self._default_host_json(app)
        self.host = host
        self.port = port
        self.rpc_port = rpc_port
        self.keys = keys or KeyRing.from_settings()
        self.config = HostConfig()
        self.specs: list[FunctionSpec] = []
        self.durable: DurableRuntimeLike | None = None
        self._runners: list[web.AppRunner] = []
        self._pollers: list[QueuePoller] = []
        self._timers: list[TimerRunner] = []

    @staticmethod
    def _default_host_json(app: str | Path) -> Path | None:
        path = Path(app)
        folder = path if path.is_dir() else path.parent
        candidate = folder / "host.json"
        return candidate if candidate.exists() else None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self.config = HostConfig.load(self.host_json)
        self.specs = discover(self.app_target)
        threads = os.environ.get("PYTHON_THREADPOOL_THREAD_COUNT")
        if threads:
            asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(int(threads)))
        client_json = await self._start_durable()
        main_app = web.Application(
            client_max_size=self.config.max_request_body_bytes,
            middlewares=[key_middleware(self.keys)],
        )
        main_app.router.add_get("/", self._root)
        main_app.router.add_get("/admin/host/status", self._status)
        if self.durable is not None:
            self.durable.add_routes(main_app, DURABLE_WEBHOOK_PREFIX + "durabletask/")
        HttpTriggers(
            self.specs,
            route_prefix=self.config.route_prefix,
            keys=self.keys,
            durable_client_json=client_json,
        ).mount(main_app)
        self.port = await self._serve(main_app, self.host, self.port)
        for spec in self.specs:
            if spec.trigger_type == "queueTrigger":
                self._pollers.append(QueuePoller(spec, self.config.queues, client_json))
            elif spec.trigger_type == "timerTrigger":
                self._timers.append(TimerRunner(spec, client_json))
        for poller in self._pollers:
            poller.start()
        for timer in self._timers:
            timer.start()
        log.info("devhost serving %d function(s) on %s", len(self.specs), self.url)

    async def _start_durable(self) -> Any:
        if not uses_durable(self.specs):
            return None
        runtime_class = durable_runtime_class()
        if runtime_class is None:
            names = [s.name for s in self.specs if s.trigger_type in DURABLE_TRIGGERS]
            raise DiscoveryError(
                f"Durable functions {names} need devhost.durable, which is missing"
            )
        connection = os.environ.get(HOST_STORAGE_SETTING)
        if not connection:
            raise ConfigError(f"Durable functions need the {HOST_STORAGE_SETTING} setting")
        # Bind the rpc socket first so the runtime is told its real port (0 picks a free one).
        rpc_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        rpc_socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        rpc_socket.bind((LOOPBACK, self.rpc_port))
        self.rpc_port = int(rpc_socket.getsockname()[1])
        durable_opts = self.config.durable
        runtime = runtime_class(
            specs=self.specs,
            connection_string=connection,
            hub_name=durable_opts.hub_name,
            rpc_base_url=f"http://{LOOPBACK}:{self.rpc_port}{RPC_PREFIX}",
            max_concurrent_activities=durable_opts.max_concurrent_activities,
            max_concurrent_orchestrators=durable_opts.max_concurrent_orchestrators,
        )
        rpc_app = web.Application(client_max_size=self.config.max_request_body_bytes)
        runtime.add_routes(rpc_app, RPC_PREFIX)
        await runtime.start()
        self.durable = runtime
        rpc_runner = web.AppRunner(rpc_app, access_log=None, shutdown_timeout=SHUTDOWN_GRACE)
        await rpc_runner.setup()
        self._runners.append(rpc_runner)
        await web.SockSite(rpc_runner, rpc_socket).start()
        return runtime.client_binding_json

    async def _serve(self, app: web.Application, host: str, port: int) -> int:
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=SHUTDOWN_GRACE)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        self._runners.append(runner)
        return _bound_port(runner)

    async def _root(self, _request: web.Request) -> web.Response:
        return web.Response(text="devhost: the Functions app is running\n")

    async def _status(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {"state": "Running", "functions": [s.name for s in self.specs], "host": "devhost"}
        )

    async def stop(self) -> None:
        workers: list[QueuePoller | TimerRunner] = [*self._timers, *self._pollers]
        for worker in workers:
            try:
                await worker.stop()
            except Exception:
                log.exception("stopping %s failed", worker.spec.name)
        self._timers.clear()
        self._pollers.clear()
        if self.durable is not None:
            try:
                await self.durable.stop()
            except Exception:
                log.exception("stopping the Durable runtime failed")
            self.durable = None
            await _release_durable_sdk_session()
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()
