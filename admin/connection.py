"""How the admin tools reach the archive account, and what to say when they cannot.

Locally the connection string comes from `ARCHIVE_STORAGE` (environment) or from the
settings file `wa-archive dev` writes (`.wa-archive/settings.json`). In Azure,
`--account <name>` signs in with DefaultAzureCredential: no keys are ever needed.

The admin clients are built here rather than through storage.clients because that
module reads only the environment and caches per process; the admin tools take the
account on the command line and want short timeouts so an unreachable account
fails fast with a message instead of a minute of retries.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient, ContainerClient
from azure.storage.blob import LinearRetry as BlobRetry
from azure.storage.queue import LinearRetry as QueueRetry
from azure.storage.queue import QueueClient, QueueServiceClient

from archive.names import SETTING_ARCHIVE_STORAGE
from storage.index_reader import IndexReader

SETTINGS_FILE = Path(".wa-archive") / "settings.json"
_REPO_ROOT = Path(__file__).resolve().parent.parent
_TIMEOUTS: dict[str, Any] = {"connection_timeout": 3, "read_timeout": 20}
# One quick retry: an admin at a terminal wants the error now, not after minutes.
_RETRY: dict[str, Any] = {"backoff": 1, "retry_total": 1, "random_jitter_range": 0}

# Data-plane roles an admin identity needs, per service (least privilege).
ROLE_HINTS = {
    "queue": "Storage Queue Data Contributor (backlog, failures, replay)",
    "table": "Storage Table Data Reader (search, failures)",
    "blob": "Storage Blob Data Reader on records/raw/media and "
    "Storage Blob Data Contributor on the audit container",
}

T = TypeVar("T")


class AdminError(RuntimeError):
    """A problem the admin should read as one clear sentence, not a traceback."""


@dataclass(frozen=True)
class ArchiveTarget:
    """The archive account: a connection string, or an account name for Entra ID sign-in."""

    label: str  # what messages name: the account, or "local (ARCHIVE_STORAGE)"
    connection_string: str | None = None
    account_name: str | None = None


def settings_file_values(cwd: Path) -> dict[str, Any] | None:
    """The first readable `wa-archive dev` settings file (cwd, then the repo root)."""
    for candidate in (cwd / SETTINGS_FILE, _REPO_ROOT / SETTINGS_FILE):
        if candidate.is_file():
            try:
                data: Any = json.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(data, dict):
                return data
    return None


def _settings_file_connection(cwd: Path) -> str | None:
    data = settings_file_values(cwd) or {}
    value = data.get(SETTING_ARCHIVE_STORAGE)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _account_of(connection_string: str) -> str:
    parts = dict(
        part.split("=", 1) for part in connection_string.split(";") if "=" in part
    )
    return parts.get("AccountName", "devstoreaccount1")


def resolve_target(account: str | None = None, cwd: Path | None = None) -> ArchiveTarget:
    """--account wins; then ARCHIVE_STORAGE; then the `wa-archive dev` settings file."""
    if account:
        return ArchiveTarget(label=f"storage account '{account}'", account_name=account)
    conn = os.environ.get(SETTING_ARCHIVE_STORAGE, "").strip()
    source = f"${SETTING_ARCHIVE_STORAGE}"
    if not conn:
        conn = _settings_file_connection(cwd or Path.cwd()) or ""
        source = str(SETTINGS_FILE)
    if not conn:
        raise AdminError(
            f"no archive account configured: set {SETTING_ARCHIVE_STORAGE} to a connection "
            f"string, run `wa-archive dev` (writes {SETTINGS_FILE}), or pass --account <name>"
        )
    return ArchiveTarget(
        label=f"storage account '{_account_of(conn)}' (from {source})", connection_string=conn
    )


class Archive:
    """Lazily built clients for one archive account, plus the error translation."""

    def __init__(self, target: ArchiveTarget) -> None:
        self.target = target

    @cached_property
    def _credential(self) -> Any:
        from azure.identity import DefaultAzureCredential

        return DefaultAzureCredential()

    @cached_property
    def signed_in_identity(self) -> str | None:
        """Who --account signed in as (for audit attribution); None locally."""
        if not self.target.account_name:
            return None
        from admin.identity import entra_identity

        try:
            credential = self._credential
        except ImportError:
            return None
        return entra_identity(credential)

    def _url(self, service: str) -> str:
        return f"https://{self.target.account_name}.{service}.core.windows.net"

    @cached_property
    def blobs(self) -> BlobServiceClient:
        if self.target.connection_string:
            return BlobServiceClient.from_connection_string(
                self.target.connection_string, retry_policy=BlobRetry(**_RETRY), **_TIMEOUTS
            )
        return BlobServiceClient(
            self._url("blob"), credential=self._credential,
            retry_policy=BlobRetry(**_RETRY), **_TIMEOUTS,
        )

    @cached_property
    def _queues(self) -> QueueServiceClient:
        if self.target.connection_string:
            return QueueServiceClient.from_connection_string(
                self.target.connection_string, retry_policy=QueueRetry(**_RETRY), **_TIMEOUTS
            )
        return QueueServiceClient(
            self._url("queue"), credential=self._credential,
            retry_policy=QueueRetry(**_RETRY), **_TIMEOUTS,
        )

    @cached_property
    def tables(self) -> TableServiceClient:
        if self.target.connection_string:
            return TableServiceClient.from_connection_string(
                self.target.connection_string, retry_total=1, retry_backoff_factor=0.2,
                **_TIMEOUTS,
            )
        return TableServiceClient(
            endpoint=self._url("table"), credential=self._credential, retry_total=1,
            retry_backoff_factor=0.2, **_TIMEOUTS,
        )

    def queue(self, name: str) -> QueueClient:
        """A queue client that reads and writes message text verbatim.

        No base64 policies on purpose: poison messages are copied back byte for byte,
        so whatever encoding the host used travels unchanged.
        """
        return self._queues.get_queue_client(name)

    def container(self, name: str) -> ContainerClient:
        return self.blobs.get_container_client(name)

    @cached_property
    def index(self) -> IndexReader:
        return IndexReader(self.tables)

    def call(self, service: str, what: str, action: Callable[[], T]) -> T:
        with self.translate(service, what):
            return action()

    @contextmanager
    def translate(self, service: str, what: str) -> Iterator[None]:
        """Turn SDK failures into one AdminError naming the account and the likely role."""
        label = self.target.label
        try:
            yield
        except ResourceNotFoundError:
            raise  # callers decide whether "not there" is an error
        except ClientAuthenticationError as exc:
            if getattr(exc, "status_code", None) == 403:
                raise AdminError(self._denied(service, what)) from None
            raise AdminError(
                f"cannot sign in to {label} while trying to {what}: run `az login` "
                f"(DefaultAzureCredential found no usable identity)"
            ) from None
        except (ServiceRequestError, ServiceResponseError):
            raise AdminError(
                f"cannot reach {label} while trying to {what}: check the account name, "
                f"network access (firewall/private endpoint) or that Azurite is running"
            ) from None
        except HttpResponseError as exc:
            if exc.status_code == 403:
                raise AdminError(self._denied(service, what)) from None
            if exc.status_code == 404:
                raise AdminError(
                    f"{label}: not found while trying to {what} "
                    f"(is this the archive account? `wa-archive dev` creates its resources)"
                ) from None
            raise
        except ImportError:
            raise AdminError("--account needs the azure-identity package installed") from None

    def _denied(self, service: str, what: str) -> str:
        return (
            f"permission denied on {self.target.label} while trying to {what}: your identity "
            f"probably lacks the role {ROLE_HINTS.get(service, service)}"
        )


def open_archive(account: str | None = None) -> Archive:
    return Archive(resolve_target(account))
