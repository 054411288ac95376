"""HTTP triggers: routing, route params, keys, request/response conversion, concurrency."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from devhost.config import BODY_LIMIT_SETTING
from devhost.discovery import load_module
from devhost.host import DevHost
from devhost.http_server import compile_route
from devhost.keys import KeyRing
from tests.devhost.host_support import APPS, running_host, write_host_json

pytestmark = pytest.mark.devhost

FUNCTION_KEY = "function-key-for-tests"
MASTER_KEY = "master-key-for-tests"


@pytest.fixture
async def host(tmp_path: Path) -> AsyncIterator[DevHost]:
    load_module(APPS / "host_http.py").RELEASE.clear()
    host_json = write_host_json(tmp_path, {"http": {"routePrefix": "api"}})
    keys = KeyRing(function_key=FUNCTION_KEY, master_key=MASTER_KEY)
    async with running_host("host_http.py", host_json, keys) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_anonymous_route_with_route_parameter(host: DevHost, http: aiohttp.ClientSession):
    async with http.get(f"{host.url}/api/hello/ada") as resp:
        assert resp.status == 200
        assert await resp.text() == "hello ada"
        assert resp.headers["Content-Type"].startswith("text/plain")


async def test_unknown_path_and_wrong_method_are_404(host: DevHost, http: aiohttp.ClientSession):
    async with http.get(f"{host.url}/api/nowhere") as resp:
        assert resp.status == 404
    async with http.post(f"{host.url}/api/hello/ada") as resp:
        assert resp.status == 404
    async with http.get(f"{host.url}/hello/ada") as resp:
        assert resp.status == 404  # outside the route prefix


async def test_function_route_needs_a_key(host: DevHost, http: aiohttp.ClientSession):
    url = f"{host.url}/api/items/42"
    async with http.get(url) as resp:
        assert resp.status == 401
    async with http.get(url, params={"code": "wrong"}) as resp:
        assert resp.status == 401
    async with http.get(url, params={"code": FUNCTION_KEY}) as resp:
        assert resp.status == 200
    async with http.get(url, headers={"x-functions-key": FUNCTION_KEY}) as resp:
        assert resp.status == 200
    async with http.get(url, headers={"x-functions-key": MASTER_KEY}) as resp:
        assert resp.status == 200


async def test_request_conversion(host: DevHost, http: aiohttp.ClientSession):
    headers = {"x-functions-key": FUNCTION_KEY, "X-Test": "yes"}
    url = f"{host.url}/api/items/42/detail?q=1&q=2&lang=en"
    async with http.post(url, data=b"\x00\x01abc", headers=headers) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("application/json")
        echo = await resp.json()
    assert echo["method"] == "POST"
    assert echo["url"] == url
    assert echo["route_params"] == {"id": "42", "part": "detail"}
    assert echo["params"] == {"q": "1", "lang": "en"}
    assert echo["x_test"] == "yes"
    assert echo["body_length"] == 5
    assert echo["function_name"] == "items"


async def test_optional_and_constrained_route_parameters(
    host: DevHost, http: aiohttp.ClientSession
):
    headers = {"x-functions-key": FUNCTION_KEY}
    async with http.get(f"{host.url}/api/items/7", headers=headers) as resp:
        assert (await resp.json())["route_params"] == {"id": "7"}
    async with http.get(f"{host.url}/api/items/seven", headers=headers) as resp:
        assert resp.status == 404  # {id:int} does not match letters


async def test_admin_route_needs_the_master_key(host: DevHost, http: aiohttp.ClientSession):
    url = f"{host.url}/api/ops/reindex"
    async with http.get(url, params={"code": FUNCTION_KEY}) as resp:
        assert resp.status == 401
    async with http.get(url, params={"code": MASTER_KEY}) as resp:
        assert resp.status == 200
        assert await resp.text() == "admin ok"


async def test_host_endpoints_need_the_master_key(host: DevHost, http: aiohttp.ClientSession):
    for path in ("/admin/host/status", "/runtime/webhooks/durabletask/instances"):
        async with http.get(host.url + path) as resp:
            assert resp.status == 401
        async with http.get(host.url + path, params={"code": FUNCTION_KEY}) as resp:
            assert resp.status == 401
    async with http.get(f"{host.url}/admin/host/status", params={"code": MASTER_KEY}) as resp:
        assert resp.status == 200
        assert "items" in (await resp.json())["functions"]


async def test_response_conversion(host: DevHost, http: aiohttp.ClientSession):
    payload = bytes(range(256)) * 4
    async with http.post(f"{host.url}/api/echo", data=payload) as resp:
        assert resp.status == 201
        assert resp.headers["X-Echo-Length"] == str(len(payload))
        assert resp.headers["Content-Type"].startswith("application/octet-stream")
        assert await resp.read() == payload


async def test_handler_exception_is_500(host: DevHost, http: aiohttp.ClientSession):
    async with http.get(f"{host.url}/api/broken") as resp:
        assert resp.status == 500
        assert "handler bug" not in await resp.text()


async def test_slow_handler_does_not_block_others(host: DevHost, http: aiohttp.ClientSession):
    # /slow holds a worker thread until /release runs; if the host handled one request
    # at a time, /release could only run after /slow gave up and answered "timeout".
    slow = asyncio.create_task(http.get(f"{host.url}/api/slow"))
    async with http.get(f"{host.url}/api/release") as resp:
        assert resp.status == 200
    async with await slow as resp:
        assert await resp.text() == "released"


async def test_function_routes_open_when_no_keys_configured(tmp_path: Path):
    host_json = write_host_json(tmp_path, {})
    async with (
        running_host("host_http.py", host_json, KeyRing()) as host,
        aiohttp.ClientSession() as http,
    ):
        async with http.get(f"{host.url}/api/items/1") as resp:
            assert resp.status == 200
        async with http.get(f"{host.url}/api/ops/reindex") as resp:
            assert resp.status == 401  # ADMIN fails closed without a master key


async def test_custom_route_prefix(tmp_path: Path):
    host_json = write_host_json(tmp_path, {"http": {"routePrefix": "custom"}})
    async with running_host("host_http.py", host_json) as host, aiohttp.ClientSession() as http:
        async with http.get(f"{host.url}/custom/hello/bo") as resp:
            assert await resp.text() == "hello bo"
        async with http.get(f"{host.url}/api/hello/bo") as resp:
            assert resp.status == 404


async def test_request_body_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(BODY_LIMIT_SETTING, "1024")
    host_json = write_host_json(tmp_path, {})
    async with running_host("host_http.py", host_json) as host, aiohttp.ClientSession() as http:
        async with http.post(f"{host.url}/api/echo", data=b"x" * 1000) as resp:
            assert resp.status == 201
        async with http.post(f"{host.url}/api/echo", data=b"x" * 4096) as resp:
            assert resp.status == 413
    assert os.environ[BODY_LIMIT_SETTING] == "1024"


@pytest.mark.parametrize(
    ("template", "path", "expected"),
    [
        ("webhooks/meta", "/webhooks/meta", {}),
        ("webhooks/meta", "/WEBHOOKS/Meta/", {}),
        ("a/{x}/b/{y?}", "/a/1/b", {"x": "1", "y": None}),
        ("files/{*rest}", "/files/a/b/c.txt", {"rest": "a/b/c.txt"}),
        ("v{version}/items", "/v2/items", {"version": "2"}),
        ("items/{id:int}", "/items/-5", {"id": "-5"}),
    ],
)
def test_compile_route_matches(template: str, path: str, expected: dict[str, str | None]):
    pattern, _ = compile_route(template)
    found = pattern.fullmatch(path)
    assert found is not None
    assert found.groupdict() == expected


@pytest.mark.parametrize(
    ("template", "path"),
    [("webhooks/meta", "/webhooks/meta/x"), ("a/{x}", "/a"), ("items/{id:int}", "/items/x1")],
)
def test_compile_route_rejects(template: str, path: str):
    pattern, _ = compile_route(template)
    assert pattern.fullmatch(path) is None


async def test_async_handlers_run_on_the_host_s_event_loop(
    host: DevHost, http: aiohttp.ClientSession
) -> None:
    # As the Python worker does: `async def` functions are awaited on the server's loop
    # (the front door's aio Storage clients rely on it), sync ones go to a thread.
    async with http.get(f"{host.url}/api/where") as response:
        assert response.status == 200
        doc = await response.json()
    assert doc == {"loop": id(asyncio.get_running_loop()), "thread": threading.get_ident()}
