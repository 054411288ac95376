import pytest
from azure.data.tables import TableServiceClient
from azure.storage.blob import BlobServiceClient
from azure.storage.queue import QueueServiceClient

from archive.names import CONTAINERS, INDEX_TABLES, QUEUES
from storage.provision import ensure_archive_resources

pytestmark = pytest.mark.azurite


def test_provisioning_creates_every_resource_and_is_idempotent(azurite_conn: str) -> None:
    ensure_archive_resources(azurite_conn)
    ensure_archive_resources(azurite_conn)  # a rerun must not fail on existing resources

    blob_service = BlobServiceClient.from_connection_string(azurite_conn)
    queue_service = QueueServiceClient.from_connection_string(azurite_conn)
    table_service = TableServiceClient.from_connection_string(azurite_conn)
    containers = {c.name for c in blob_service.list_containers()}
    queues = {q.name for q in queue_service.list_queues()}
    tables = {t.name for t in table_service.list_tables()}
    assert set(CONTAINERS) <= containers
    assert set(QUEUES) <= queues
    assert set(INDEX_TABLES) <= tables
