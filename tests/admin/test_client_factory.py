"""One factory for every Storage client: accounts, retry profiles, quiet SDK logging."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import pytest
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient

from admin.connection import Archive, ArchiveTarget
from archive.names import SETTING_ARCHIVE_STORAGE
from devhost.azurite import ACCOUNT_KEY
from storage.clients import (
    SDK_LOGGERS,
    Profile,
    account_from_connection_string,
    account_named,
    aio_container_client,
    aio_queue_client,
    close_aio_clients,
    service_client,
)

pytestmark = pytest.mark.unit


def connection_string() -> str:
    # A unique endpoint per call, so each test builds (not reuses) its clients.
    port = 20000 + uuid.uuid4().int % 20000
    return (f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={ACCOUNT_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;"
            f"QueueEndpoint=http://127.0.0.1:{port + 1}/devstoreaccount1;"
            f"TableEndpoint=http://127.0.0.1:{port + 2}/devstoreaccount1;")


def retries(client: Any) -> int:
    # The Tables SDK keeps its azure-core config one level down.
    config: Any = (
        client._client._config if isinstance(client, TableServiceClient) else client._config
    )
    return int(config.retry_policy.total_retries)


def test_one_client_per_account_and_profile_with_the_profile_s_retries() -> None:
    account = account_from_connection_string(connection_string())
    admin = service_client(BlobServiceClient, account, Profile.ADMIN)
    assert service_client(BlobServiceClient, account, Profile.ADMIN) is admin
    worker = service_client(BlobServiceClient, account, Profile.WORKER)
    assert worker is not admin
    assert (retries(admin), retries(worker)) == (1, 3)
    assert retries(service_client(QueueServiceClient, account, Profile.FAST)) == 1
    assert retries(service_client(TableServiceClient, account, Profile.WORKER)) == 3


def test_the_admin_tools_build_their_clients_through_the_factory() -> None:
    conn = connection_string()
    archive = Archive(ArchiveTarget(label="local", connection_string=conn))
    account = account_from_connection_string(conn)
    assert archive.blobs is service_client(BlobServiceClient, account, Profile.ADMIN)
    assert archive.tables is service_client(TableServiceClient, account, Profile.ADMIN)
    assert archive.queue("ingest").url.startswith(
        service_client(QueueServiceClient, account, Profile.ADMIN).url)


def test_an_account_name_means_its_public_endpoints_and_no_key() -> None:
    account = account_named("contosoarchive")
    assert account.connection_string is None
    assert (account.blob_url, account.queue_url, account.table_url) == (
        "https://contosoarchive.blob.core.windows.net",
        "https://contosoarchive.queue.core.windows.net",
        "https://contosoarchive.table.core.windows.net",
    )
    assert ArchiveTarget(label="x", account_name="contosoarchive").account() == account


def test_building_a_client_quiets_the_sdk_request_logging() -> None:
    for name in SDK_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    service_client(QueueServiceClient, account_from_connection_string(connection_string()),
                   Profile.WORKER)
    policy = logging.getLogger("azure.core.pipeline.policies.http_logging_policy")
    assert not policy.isEnabledFor(logging.INFO)
    assert logging.getLogger("azure").level == logging.WARNING


PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                   "all_proxy", "NO_PROXY", "no_proxy")


def test_async_clients_are_reused_per_event_loop_with_the_profile_s_tuning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SETTING_ARCHIVE_STORAGE, connection_string())
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)

    async def on_one_loop() -> tuple[Any, Any]:
        queue = aio_queue_client("ingest", Profile.FAST)
        raw = aio_container_client("raw", Profile.FAST)
        assert aio_queue_client("ingest", Profile.FAST) is queue  # built once per loop
        assert aio_container_client("raw", Profile.FAST) is raw
        assert aio_queue_client("ingest", Profile.WORKER) is not queue
        for client in (queue, raw):
            policy: Any = client._config.retry_policy  # the async linear retry: quick 503s
            assert (type(policy).__module__.endswith("policies_async"),
                    policy.total_retries, policy.backoff) == (True, 1, 1)
        assert type(queue._message_encode_policy).__name__ == "TextBase64EncodePolicy"
        await close_aio_clients()
        return queue, raw

    first, second = asyncio.run(on_one_loop()), asyncio.run(on_one_loop())
    assert first[0] is not second[0] and first[1] is not second[1]


def test_async_clients_look_up_env_settings_only_when_a_proxy_is_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SETTING_ARCHIVE_STORAGE, connection_string())
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)

    async def trusts_env() -> bool:
        # The queue client's transport is a wrapper; its service owns the aiohttp transport.
        aio_queue_client("ingest", Profile.FAST)
        from storage import clients

        services = [c for k, c in clients._aio_clients().items() if k[0] == "service"]
        (service,) = services
        trusted = bool(service._pipeline._transport._use_env_settings)
        await close_aio_clients()
        return trusted

    assert asyncio.run(trusts_env()) is False  # no netrc/proxy lookup per request
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    assert asyncio.run(trusts_env()) is True  # a configured proxy is still honoured
