"""How the admin tools reach the archive account, and what to say when they cannot.

Locally the connection string comes from `ARCHIVE_STORAGE` (environment) or from the
settings file `wa-archive dev` writes into the project's data folder. In Azure,
`--account <name>` signs in with DefaultAzureCredential: no keys are ever needed.

The data folder is the one `wa-archive dev` uses: `--data-dir`, else
`$WA_ARCHIVE_DATA_DIR`, else `.wa-archive/` in this checkout. It is never looked up
relative to the current directory: a settings file planted in whatever folder an
admin happens to run from must not choose the account or the Durable API URL.

Clients come from storage.clients (Profile.ADMIN: one quick retry, short timeouts),
so an unreachable account fails fast with a message instead of a minute of retries.
"""

from __future__ import annotations

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
from azure.storage.queue import QueueClient, QueueServiceClient

from admin.private_files import read_private_json
from archive.names import SETTING_ARCHIVE_STORAGE
from storage.clients import (
    ArchiveAccount,
    Profile,
    account_from_connection_string,
    account_named,
    credential,
    service_client,
)
from storage.index_reader import IndexReader

DATA_DIR_SETTING = "WA_ARCHIVE_DATA_DIR"
SETTINGS_NAME = "settings.json"
_REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR_NAME = ".wa-archive"  # in this checkout: what `wa-archive dev` uses by default

# Data-plane roles an admin identity needs, per service (least privilege).
# Exactly what bicep/modules/people-access.bicep grants admins
# (tests/bicep/test_admin_roles.py checks both against the calls in admin/).
ROLE_HINTS = {
    "queue": "Storage Queue Data Reader (+ Storage Queue Data Message Sender on ingest, "
    "WA Archive Poison Replayer on ingest-poison) (backlog, failures, replay)",
    "table": "Storage Table Data Reader (search, failures), and WA Archive Failure Resolver "
    "on IndexFailures (dead-letter replay, reconcile)",
    "blob": "Storage Blob Data Reader on the archive containers and "
    "the Audit Appender role on the audit container",
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

    def account(self) -> ArchiveAccount:
        if self.connection_string:
            return account_from_connection_string(self.connection_string)
        assert self.account_name is not None
        return account_named(self.account_name)


def data_dir(explicit: Path | None = None) -> Path:
    """The project's data folder: --data-dir, else $WA_ARCHIVE_DATA_DIR, else the default."""
    if explicit is not None:
        return explicit
    configured = os.environ.get(DATA_DIR_SETTING, "").strip()
    return Path(configured) if configured else _REPO_ROOT / DATA_DIR_NAME


def settings_path(folder: Path | None = None) -> Path:
    return data_dir(folder) / SETTINGS_NAME


def settings_file_values(folder: Path | None = None) -> dict[str, Any] | None:
    """The `wa-archive dev` settings of the project's data folder, if present and trusted."""
    data = read_private_json(settings_path(folder), AdminError)
    return data if isinstance(data, dict) else None


def _settings_file_connection(folder: Path | None) -> str | None:
    data = settings_file_values(folder) or {}
    value = data.get(SETTING_ARCHIVE_STORAGE)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _account_of(connection_string: str) -> str:
    parts = dict(
        part.split("=", 1) for part in connection_string.split(";") if "=" in part
    )
    return parts.get("AccountName", "devstoreaccount1")


def resolve_target(account: str | None = None, folder: Path | None = None) -> ArchiveTarget:
    """--account wins; then ARCHIVE_STORAGE; then the data folder's settings file."""
    if account:
        return ArchiveTarget(label=f"storage account '{account}'", account_name=account)
    conn = os.environ.get(SETTING_ARCHIVE_STORAGE, "").strip()
    source = f"${SETTING_ARCHIVE_STORAGE}"
    if not conn:
        conn = _settings_file_connection(folder) or ""
        source = str(settings_path(folder))
    if not conn:
        raise AdminError(
            f"no archive account configured: set {SETTING_ARCHIVE_STORAGE} to a connection "
            f"string, run `wa-archive dev` (writes {settings_path(folder)}; another data "
            f"folder: --data-dir or ${DATA_DIR_SETTING}), or pass --account <name>"
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
        return credential(None)

    @cached_property
    def signed_in_identity(self) -> str | None:
        """Who --account signed in as (for audit attribution); None locally."""
        if not self.target.account_name:
            return None
        from admin.identity import entra_identity

        try:
            signed_in = self._credential
        except ImportError:
            return None
        return entra_identity(signed_in)

    @cached_property
    def blobs(self) -> BlobServiceClient:
        return service_client(BlobServiceClient, self.target.account(), Profile.ADMIN)

    @cached_property
    def _queues(self) -> QueueServiceClient:
        return service_client(QueueServiceClient, self.target.account(), Profile.ADMIN)

    @cached_property
    def tables(self) -> TableServiceClient:
        return service_client(TableServiceClient, self.target.account(), Profile.ADMIN)

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


def open_archive(account: str | None = None, folder: Path | None = None) -> Archive:
    return Archive(resolve_target(account, folder))
