"""One factory for every Storage client: accounts, retry profiles, quiet SDK logging."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient

from admin.connection import Archive, ArchiveTarget
from devhost.azurite import ACCOUNT_KEY
from storage.clients import (
    SDK_LOGGERS,
    Profile,
    account_from_connection_string,
    account_named,
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
