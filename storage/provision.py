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


def ensure_archive_resources(connection_string: str) -> None:
    blobs = BlobServiceClient.from_connection_string(connection_string)
    for container in CONTAINERS:
        with contextlib.suppress(ResourceExistsError):
            blobs.create_container(container)
    queues = QueueServiceClient.from_connection_string(connection_string)
    for queue in QUEUES:
        with contextlib.suppress(ResourceExistsError):
            queues.create_queue(queue)
    tables = TableServiceClient.from_connection_string(connection_string)
    for table in INDEX_TABLES:
        tables.create_table_if_not_exists(table)
