"""Archive-account clients: one factory for the pipeline and the admin tools.

`ARCHIVE_STORAGE` holds a connection string (Azurite, local runs). In Azure the app
uses the identity-based form that Functions bindings understand:
`ARCHIVE_STORAGE__accountName` (optionally `__blobServiceUri`, `__queueServiceUri`,
`__tableServiceUri`, `__clientId` for a user-assigned identity), with no shared key.
The admin tools name the account on the command line (`account_named`) or pass a
connection string (`account_from_connection_string`).

`aio_queue_client` and `aio_container_client` build the same clients for async code
(the webhook front door, which the Functions worker runs on its event loop): aio
transport, async retry policy, same tuning per profile, one per event loop, reused.

Three retry profiles: FAST for the webhook front door (answer 503 within a few
seconds when storage is down, so Meta retries), WORKER for queue triggers and
activities (a few more retries; the queue and Durable retry on top), and ADMIN for a
person at a terminal (one quick retry, then a clear error instead of minutes of
waiting).
"""

from __future__ import annotations

import asyncio
import logging
import os
import urllib.request
import weakref
from dataclasses import dataclass, replace
from enum import Enum
from functools import lru_cache
from typing import Any, TypeVar

from azure.core.credentials import TokenCredential
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient
from azure.storage.blob import LinearRetry as BlobLinearRetry
from azure.storage.blob.aio import BlobServiceClient as AioBlobServiceClient
from azure.storage.blob.aio import ContainerClient as AioContainerClient
from azure.storage.blob.aio import LinearRetry as AioLinearRetry
from azure.storage.queue import LinearRetry as QueueLinearRetry
from azure.storage.queue import (
    QueueClient,
    QueueServiceClient,
    TextBase64DecodePolicy,
    TextBase64EncodePolicy,
)
from azure.storage.queue.aio import QueueClient as AioQueueClient
from azure.storage.queue.aio import QueueServiceClient as AioQueueServiceClient

from archive.names import SETTING_ARCHIVE_STORAGE, SETTING_RETENTION_IDENTITY
from storage.settings import SettingError

# The SDK's HTTP logging policy logs every request URL at INFO, and blob names carry
# phone numbers; only warnings and errors of the SDK may reach the logs.
SDK_LOGGERS = ("azure", "azure.core.pipeline.policies.http_logging_policy")


class Profile(Enum):
    FAST = "fast"
    WORKER = "worker"
    ADMIN = "admin"


@dataclass(frozen=True)
class _Tuning:
    connection_timeout: int
    read_timeout: int
    retries: int
    backoff: int
    table_backoff: float


_TUNING = {
    Profile.FAST: _Tuning(
        connection_timeout=2, read_timeout=5, retries=1, backoff=1, table_backoff=0.5
    ),
    Profile.WORKER: _Tuning(
        connection_timeout=10, read_timeout=60, retries=3, backoff=2, table_backoff=0.5
    ),
    Profile.ADMIN: _Tuning(
        connection_timeout=3, read_timeout=20, retries=1, backoff=1, table_backoff=0.2
    ),
}


@dataclass(frozen=True)
class ArchiveAccount:
    """Where the archive account is and how to authenticate to it."""

    connection_string: str | None
    blob_url: str | None = None
    queue_url: str | None = None
    table_url: str | None = None
    client_id: str | None = None


def account_from_connection_string(connection_string: str) -> ArchiveAccount:
    return ArchiveAccount(connection_string=connection_string)


def account_named(
    account: str,
    *,
    blob_url: str = "",
    queue_url: str = "",
    table_url: str = "",
    client_id: str | None = None,
) -> ArchiveAccount:
    """An account reached with Entra ID (no keys), at its public endpoints by default."""
    return ArchiveAccount(
        connection_string=None,
        blob_url=blob_url or f"https://{account}.blob.core.windows.net",
        queue_url=queue_url or f"https://{account}.queue.core.windows.net",
        table_url=table_url or f"https://{account}.table.core.windows.net",
        client_id=client_id,
    )


def archive_account(setting: str = SETTING_ARCHIVE_STORAGE) -> ArchiveAccount:
    conn = os.environ.get(setting, "").strip()
    if conn:
        return account_from_connection_string(conn)
    account = os.environ.get(f"{setting}__accountName", "").strip()
    blob = os.environ.get(f"{setting}__blobServiceUri", "").strip()
    if not account and not blob:
        raise SettingError(
            f"app setting {setting} is not set (nor {setting}__accountName for managed identity)"
        )
    return account_named(
        account,
        blob_url=blob,
        queue_url=os.environ.get(f"{setting}__queueServiceUri", "").strip(),
        table_url=os.environ.get(f"{setting}__tableServiceUri", "").strip(),
        client_id=os.environ.get(f"{setting}__clientId", "").strip() or None,
    )


@lru_cache(maxsize=4)
def credential(client_id: str | None = None) -> TokenCredential:
    """The managed identity (by client id), else DefaultAzureCredential (az login, ...)."""
    # Imported lazily: azure.identity is only needed in Azure.
    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

    if client_id:
        return ManagedIdentityCredential(client_id=client_id)
    return DefaultAzureCredential()


def quiet_sdk_logging() -> None:
    # Set where clients are built: a host that configures logging at INFO later
    # still leaves these named loggers at WARNING.
    for name in SDK_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


_Service = TypeVar("_Service", BlobServiceClient, QueueServiceClient, TableServiceClient)

# Per service class: its name here, which is also its endpoint field on ArchiveAccount.
_KIND: dict[type[Any], str] = {
    BlobServiceClient: "blob",
    QueueServiceClient: "queue",
    TableServiceClient: "table",
}


def _retry(kind: str, tuning: _Tuning) -> dict[str, Any]:
    if kind == "table":  # azure-core retries, not the Storage SDK's
        return {"retry_total": tuning.retries, "retry_backoff_factor": tuning.table_backoff}
    policy = BlobLinearRetry if kind == "blob" else QueueLinearRetry
    return {
        "retry_policy": policy(
            backoff=tuning.backoff, retry_total=tuning.retries, random_jitter_range=0
        )
    }


def service_client(
    service: type[_Service], account: ArchiveAccount, profile: Profile
) -> _Service:
    """The one place Storage service clients are built (cached per account and profile)."""
    built: _Service = _cached_client(_KIND[service], account, profile)
    return built


@lru_cache(maxsize=48)
def _cached_client(kind: str, account: ArchiveAccount, profile: Profile) -> Any:
    quiet_sdk_logging()
    service = next(cls for cls, name in _KIND.items() if name == kind)
    tuning = _TUNING[profile]
    kwargs: dict[str, Any] = {
        "connection_timeout": tuning.connection_timeout,
        "read_timeout": tuning.read_timeout,
        **_retry(kind, tuning),
    }
    if account.connection_string:
        return service.from_connection_string(account.connection_string, **kwargs)
    url = getattr(account, f"{kind}_url")
    assert url is not None
    return service(url, credential=credential(account.client_id), **kwargs)


def blob_service(profile: Profile = Profile.WORKER) -> BlobServiceClient:
    return service_client(BlobServiceClient, archive_account(), profile)


def queue_client(name: str, profile: Profile = Profile.WORKER) -> QueueClient:
    # host.json sets messageEncoding=base64: the host base64-decodes what it reads.
    # (Encode policies must be given per queue client; the service client does not pass them on.)
    return service_client(QueueServiceClient, archive_account(), profile).get_queue_client(
        name,
        message_encode_policy=TextBase64EncodePolicy(),
        message_decode_policy=TextBase64DecodePolicy(),
    )


def table_service(profile: Profile = Profile.WORKER) -> TableServiceClient:
    return service_client(TableServiceClient, archive_account(), profile)


def retention_account() -> ArchiveAccount:
    """The archive account as the retention and legal-hold identity reaches it.

    In Azure that is a user-assigned identity of its own (`RETENTION_IDENTITY_CLIENT_ID`),
    the only one allowed to delete blob versions and set legal holds; the app identity
    keeps create-only writing. A connection string (Azurite) has no identities to tell apart.
    """
    account = archive_account()
    client_id = os.environ.get(SETTING_RETENTION_IDENTITY, "").strip()
    if account.connection_string or not client_id:
        return account
    return replace(account, client_id=client_id)


def retention_blob_service(profile: Profile = Profile.WORKER) -> BlobServiceClient:
    return service_client(BlobServiceClient, retention_account(), profile)


def retention_table_service(profile: Profile = Profile.WORKER) -> TableServiceClient:
    return service_client(TableServiceClient, retention_account(), profile)


# --- async clients (aio transport), for code that runs on the worker's event loop -----

# An aio client's HTTP session belongs to the event loop it first ran on, so clients are
# kept per loop: built on first use, reused by every later call on that loop.
_AIO_CLIENTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[tuple[Any, ...], Any]] = (
    weakref.WeakKeyDictionary()
)


def _aio_clients() -> dict[tuple[Any, ...], Any]:
    loop = asyncio.get_running_loop()
    clients = _AIO_CLIENTS.get(loop)
    if clients is None:
        clients = _AIO_CLIENTS[loop] = {}
    return clients


def _aio_credential(client_id: str | None) -> Any:
    """An async token credential (managed identity by client id, else the default chain)."""
    key = ("credential", client_id)
    clients = _aio_clients()
    if key not in clients:
        from azure.identity.aio import DefaultAzureCredential, ManagedIdentityCredential

        clients[key] = (ManagedIdentityCredential(client_id=client_id) if client_id
                        else DefaultAzureCredential())
    return clients[key]


def _aio_service(kind: str, account: ArchiveAccount, profile: Profile) -> Any:
    key = ("service", kind, account, profile)
    clients = _aio_clients()
    if key in clients:
        return clients[key]
    quiet_sdk_logging()
    tuning = _TUNING[profile]
    service = AioBlobServiceClient if kind == "blob" else AioQueueServiceClient
    kwargs: dict[str, Any] = {
        "connection_timeout": tuning.connection_timeout,
        "read_timeout": tuning.read_timeout,
        # The same linear retry as the sync clients, in its async form (it sleeps with
        # asyncio). The queue package does not export its copy; the policy is generic
        # Storage code, vendored identically in both packages.
        "retry_policy": AioLinearRetry(
            backoff=tuning.backoff, retry_total=tuning.retries, random_jitter_range=0
        ),
        # With env settings on, aiohttp looks up ~/.netrc and the proxy variables in a
        # worker thread on *every* request: two thread hops, ~0.5 ms of CPU per call on
        # the 2-core bench. So they are on only when a proxy is configured (decided once,
        # here). netrc credentials have no use on Storage calls (SharedKey or Entra ID).
        "use_env_settings": bool(urllib.request.getproxies()),
    }
    if account.connection_string:
        client = service.from_connection_string(account.connection_string, **kwargs)
    else:
        url = getattr(account, f"{kind}_url")
        assert url is not None
        client = service(url, credential=_aio_credential(account.client_id), **kwargs)
    clients[key] = client
    return client


def aio_queue_client(name: str, profile: Profile = Profile.WORKER) -> AioQueueClient:
    """`queue_client` for async code: base64 messages, one client per event loop."""
    account = archive_account()
    key = ("queue", name, account, profile)
    clients = _aio_clients()
    if key not in clients:
        clients[key] = _aio_service("queue", account, profile).get_queue_client(
            name,
            message_encode_policy=TextBase64EncodePolicy(),
            message_decode_policy=TextBase64DecodePolicy(),
        )
    built: AioQueueClient = clients[key]
    return built


def aio_container_client(name: str, profile: Profile = Profile.WORKER) -> AioContainerClient:
    """A container of the archive account for async code, one client per event loop."""
    account = archive_account()
    key = ("container", name, account, profile)
    clients = _aio_clients()
    if key not in clients:
        clients[key] = _aio_service("blob", account, profile).get_container_client(name)
    built: AioContainerClient = clients[key]
    return built


async def close_aio_clients() -> None:
    """Close the running loop's async clients (their HTTP sessions), e.g. before it ends."""
    clients = _AIO_CLIENTS.pop(asyncio.get_running_loop(), {})
    # Services own the sessions their queue and container clients share: close them last.
    for key, client in sorted(clients.items(), key=lambda item: item[0][0] == "service"):
        if key[0] != "credential":
            await client.close()
    for key, client in clients.items():
        if key[0] == "credential":
            await client.close()
