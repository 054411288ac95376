"""storage/blob_versions.py on a real Azurite: no versioning, no legal holds.

Azurite is what `wa-archive dev` and CI run on, so the retention and hold code must
degrade there the way this adapter promises: one unversioned "version" per blob,
holds reported unsupported (the Holds table carries them), deletes plain.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient, ContainerClient

from storage import blob_versions
from storage.blob_versions import (
    delete_version,
    list_versions,
    set_legal_hold,
    versioning_supported,
    versions_of,
)

NAME = "year=2026/month=01/day=05/wamid.HBgL+NTU=.json"


@pytest.fixture
def service(azurite_conn: str) -> BlobServiceClient:
    return BlobServiceClient.from_connection_string(azurite_conn)


@pytest.fixture
def container(service: BlobServiceClient, unique_name: str) -> Iterator[ContainerClient]:
    client = service.create_container(unique_name)
    try:
        yield client
    finally:
        client.delete_container()


@pytest.fixture(autouse=True)
def fresh_detection() -> Iterator[None]:
    blob_versions.forget_detection()
    yield
    blob_versions.forget_detection()


def test_versioning_is_not_supported_and_detected_once(
    azurite_conn: str, caplog: pytest.LogCaptureFixture
) -> None:
    requests: list[str] = []

    def count(response: Any) -> None:
        requests.append(response.http_request.method)

    first = BlobServiceClient.from_connection_string(azurite_conn, raw_response_hook=count)
    second = BlobServiceClient.from_connection_string(azurite_conn, raw_response_hook=count)
    with caplog.at_level(logging.INFO, logger="storage.blob_versions"):
        assert versioning_supported(first) is False
        probed = len(requests)
        assert versioning_supported(second) is False
        assert versioning_supported(first) is False

    assert probed > 0 and len(requests) == probed  # the account was probed once
    lines = [r.getMessage() for r in caplog.records if r.name == "storage.blob_versions"]
    assert len(lines) == 1 and "legal holds rely on the Holds table" in lines[0]


def test_versions_of_gives_the_current_blob_without_a_version(container: ContainerClient) -> None:
    container.upload_blob(NAME, b"{}", metadata={"sha256": "ab" * 32})
    container.upload_blob(NAME + ".1", b"longer name, same prefix")

    [version] = versions_of(container, NAME)

    assert version.name == NAME and version.container == container.container_name
    assert version.version_id is None and version.is_current
    assert version.size == 2 and version.sha256 == "ab" * 32
    assert version.legal_hold is False and version.immutable_until is None
    assert versions_of(container, "year=2026/missing.json") == []
    assert sorted(v.name for v in list_versions(container, "year=2026/")) == [NAME, NAME + ".1"]


def test_legal_hold_is_unsupported(container: ContainerClient) -> None:
    container.upload_blob(NAME, b"{}")
    [version] = versions_of(container, NAME)

    assert set_legal_hold(container, version, True) == "unsupported"
    assert set_legal_hold(container, version, False) == "unsupported"


def test_delete_is_a_plain_delete_then_gone(container: ContainerClient) -> None:
    container.upload_blob(NAME, b"{}")
    [version] = versions_of(container, NAME)

    assert delete_version(container, version) == "deleted"
    assert versions_of(container, NAME) == []
    assert delete_version(container, version) == "gone"
