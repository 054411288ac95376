"""Archive-account clients: a connection string locally, managed identity in Azure.

`ARCHIVE_STORAGE` holds a connection string (Azurite, local runs). In Azure the app
uses the identity-based form that Functions bindings understand:
`ARCHIVE_STORAGE__accountName` (optionally `__blobServiceUri`, `__queueServiceUri`,
`__tableServiceUri`, `__clientId` for a user-assigned identity), with no shared key.

Two profiles: FAST for the webhook front door (answer 503 within a few seconds when
storage is down, so Meta retries) and WORKER for queue triggers and activities
(a few more retries; the queue and Durable retry on top).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from typing import Any

from azure.core.credentials import TokenCredential
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient
from azure.storage.blob import LinearRetry as BlobLinearRetry
from azure.storage.queue import (
    LinearRetry as QueueLinearRetry,
)
from azure.storage.queue import (
    QueueClient,
    QueueServiceClient,
    TextBase64DecodePolicy,
    TextBase64EncodePolicy,
)

from archive.names import SETTING_ARCHIVE_STORAGE
from storage.settings import SettingError


class Profile(Enum):
    FAST = "fast"
    WORKER = "worker"


@dataclass(frozen=True)
class _Tuning:
    connection_timeout: int
    read_timeout: int
    retries: int
    backoff: int


_TUNING = {
    Profile.FAST: _Tuning(connection_timeout=2, read_timeout=5, retries=1, backoff=1),
    Profile.WORKER: _Tuning(connection_timeout=10, read_timeout=60, retries=3, backoff=2),
}


@dataclass(frozen=True)
class ArchiveAccount:
    """Where the archive account is and how to authenticate to it."""

    connection_string: str | None
    blob_url: str | None = None
    queue_url: str | None = None
    table_url: str | None = None
    client_id: str | None = None


def archive_account(setting: str = SETTING_ARCHIVE_STORAGE) -> ArchiveAccount:
    conn = os.environ.get(setting, "").strip()
    if conn:
        return ArchiveAccount(connection_string=conn)
    account = os.environ.get(f"{setting}__accountName", "").strip()
    blob = os.environ.get(f"{setting}__blobServiceUri", "").strip()
    if not account and not blob:
        raise SettingError(
            f"app setting {setting} is not set (nor {setting}__accountName for managed identity)"
        )
    return ArchiveAccount(
        connection_string=None,
        blob_url=blob or f"https://{account}.blob.core.windows.net",
        queue_url=os.environ.get(f"{setting}__queueServiceUri", "").strip()
        or f"https://{account}.queue.core.windows.net",
        table_url=os.environ.get(f"{setting}__tableServiceUri", "").strip()
        or f"https://{account}.table.core.windows.net",
        client_id=os.environ.get(f"{setting}__clientId", "").strip() or None,
    )


@lru_cache(maxsize=4)
def _credential(client_id: str | None) -> TokenCredential:
    # Imported lazily: azure.identity is only needed in Azure.
    from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

    if client_id:
        return ManagedIdentityCredential(client_id=client_id)
    return DefaultAzureCredential()


def _common(profile: Profile) -> dict[str, Any]:
    tuning = _TUNING[profile]
    return {
        "connection_timeout": tuning.connection_timeout,
        "read_timeout": tuning.read_timeout,
    }


@lru_cache(maxsize=8)
def _blob_service(account: ArchiveAccount, profile: Profile) -> BlobServiceClient:
    tuning = _TUNING[profile]
    kwargs = _common(profile) | {
        "retry_policy": BlobLinearRetry(
            backoff=tuning.backoff, retry_total=tuning.retries, random_jitter_range=0
        )
    }
    if account.connection_string:
        return BlobServiceClient.from_connection_string(account.connection_string, **kwargs)
    assert account.blob_url is not None
    return BlobServiceClient(account.blob_url, credential=_credential(account.client_id), **kwargs)


@lru_cache(maxsize=8)
def _queue_service(account: ArchiveAccount, profile: Profile) -> QueueServiceClient:
    tuning = _TUNING[profile]
    kwargs = _common(profile) | {
        "retry_policy": QueueLinearRetry(
            backoff=tuning.backoff, retry_total=tuning.retries, random_jitter_range=0
        ),
    }
    if account.connection_string:
        return QueueServiceClient.from_connection_string(account.connection_string, **kwargs)
    assert account.queue_url is not None
    return QueueServiceClient(
        account.queue_url, credential=_credential(account.client_id), **kwargs
    )


@lru_cache(maxsize=8)
def _table_service(account: ArchiveAccount, profile: Profile) -> TableServiceClient:
    tuning = _TUNING[profile]
    kwargs = _common(profile) | {"retry_total": tuning.retries, "retry_backoff_factor": 0.5}
    if account.connection_string:
        return TableServiceClient.from_connection_string(account.connection_string, **kwargs)
    assert account.table_url is not None
    return TableServiceClient(
        endpoint=account.table_url, credential=_credential(account.client_id), **kwargs
    )


def blob_service(profile: Profile = Profile.WORKER) -> BlobServiceClient:
    return _blob_service(archive_account(), profile)


def queue_client(name: str, profile: Profile = Profile.WORKER) -> QueueClient:
    # host.json sets messageEncoding=base64: the host base64-decodes what it reads.
    # (Encode policies must be given per queue client; the service client does not pass them on.)
    return _queue_service(archive_account(), profile).get_queue_client(
        name,
        message_encode_policy=TextBase64EncodePolicy(),
        message_decode_policy=TextBase64DecodePolicy(),
    )


def table_service(profile: Profile = Profile.WORKER) -> TableServiceClient:
    return _table_service(archive_account(), profile)
