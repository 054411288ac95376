"""Create the archive account's containers, queues and index tables (idempotent).

Bicep creates the same names in Azure; locally `wa-archive dev` and the tests call this.
"""

from __future__ import annotations

import contextlib

from azure.core.exceptions import ResourceExistsError
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient

from archive.names import CONTAINERS, INDEX_TABLES, QUEUES
from storage.clients import Profile, account_from_connection_string, service_client


def ensure_archive_resources(connection_string: str) -> None:
    account = account_from_connection_string(connection_string)
    blobs = service_client(BlobServiceClient, account, Profile.WORKER)
    for container in CONTAINERS:
        with contextlib.suppress(ResourceExistsError):
            blobs.create_container(container)
    queues = service_client(QueueServiceClient, account, Profile.WORKER)
    for queue in QUEUES:
        with contextlib.suppress(ResourceExistsError):
            queues.create_queue(queue)
    tables = service_client(TableServiceClient, account, Profile.WORKER)
    for table in INDEX_TABLES:
        tables.create_table_if_not_exists(table)
