"""storage/blob_versions.py against the Blob REST API as documented, with no account.

The real azure-storage-blob clients run their whole pipeline; only the socket is
replaced by a transport that answers like the service (learn.microsoft.com REST pages
"List Blobs", "Set Blob Legal Hold", "Delete Blob", "Blob service error codes"). So the
request shapes (method, path, query, headers) and the parsing of the answers are the
SDK's own, checked here because no live archive account is available to tests.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from azure.core.exceptions import HttpResponseError
from azure.core.pipeline.transport import HttpResponse, HttpTransport
from azure.core.utils import case_insensitive_dict
from azure.storage.blob import BlobServiceClient, ContainerClient

from storage import blob_versions
from storage.blob_versions import (
    BlobVersion,
    delete_version,
    list_versions,
    set_legal_hold,
    versioning_supported,
    versions_of,
)

ACCOUNT_URL = "https://archiveacct.blob.core.windows.net"
NAME = "year=2026/month=01/day=05/wamid.HBgL%2BNTU=.json"
V1 = "2026-01-05T10:00:00.1234567Z"
V2 = "2026-01-06T11:30:00.7654321Z"
SHA = "a" * 64


class _Response(HttpResponse):
    def __init__(self, request: Any, status: int, headers: dict[str, str], body: bytes) -> None:
        super().__init__(request, None)
        self.status_code = status
        self.headers = case_insensitive_dict(headers)
        self.reason = {200: "OK", 202: "Accepted", 404: "Not Found", 409: "Conflict"}.get(
            status, "Error"
        )
        self.content_type = headers.get("Content-Type")
        self._body = body

    def body(self) -> bytes:
        return self._body


Answer = tuple[int, dict[str, str], bytes]
Query = dict[str, list[str]]
Headers = dict[str, str]


class FakeBlobService(HttpTransport):  # type: ignore[type-arg]
    """Records every request and answers with `answer(method, path, query, headers)`."""

    def __init__(self, answer: Callable[[str, str, Query, Headers], Answer]) -> None:
        self.answer = answer
        self.requests: list[tuple[str, str, dict[str, list[str]], dict[str, str]]] = []

    def __enter__(self) -> FakeBlobService:
        return self

    def __exit__(self, *args: object) -> None:
        return None

    def open(self) -> None:
        return None

    def close(self) -> None:
        return None

    def send(self, request: Any, **kwargs: Any) -> _Response:
        parts = urlsplit(request.url)
        query = parse_qs(parts.query, keep_blank_values=True)
        headers = {key.lower(): value for key, value in request.headers.items()}
        path = unquote(parts.path)
        self.requests.append((request.method, path, query, headers))
        status, answer_headers, body = self.answer(request.method, path, query, headers)
        base = {"x-ms-request-id": "0000", "x-ms-version": "2025-01-05"}
        return _Response(request, status, {**base, **answer_headers}, body)


def _service(transport: FakeBlobService) -> BlobServiceClient:
    # No credential: the requests are not signed, which the fake does not check.
    return BlobServiceClient(ACCOUNT_URL, transport=transport, retry_total=0)


def _container(transport: FakeBlobService, name: str = "records") -> ContainerClient:
    return _service(transport).get_container_client(name)


def _error(status: int, code: str, message: str) -> Answer:
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        f"<Error><Code>{code}</Code><Message>{message}\nRequestId:0000\n"
        "Time:2026-01-07T00:00:00.0000000Z</Message></Error>"
    ).encode()
    return status, {"x-ms-error-code": code, "Content-Type": "application/xml"}, body


# A List Blobs answer as the REST page documents it for include=versions,legalhold,
# immutabilitypolicy,metadata: a previous version under legal hold, the current version
# under a locked policy, and a longer name sharing the prefix.
LISTING = f"""<?xml version="1.0" encoding="utf-8"?>
<EnumerationResults ServiceEndpoint="{ACCOUNT_URL}/" ContainerName="records">
  <Prefix>{NAME}</Prefix>
  <Blobs>
    <Blob>
      <Name>{NAME}</Name>
      <VersionId>{V1}</VersionId>
      <Properties>
        <Creation-Time>Mon, 05 Jan 2026 10:00:00 GMT</Creation-Time>
        <Last-Modified>Mon, 05 Jan 2026 10:00:00 GMT</Last-Modified>
        <Etag>0x8DE1111111111111</Etag>
        <Content-Length>512</Content-Length>
        <Content-Type>application/json</Content-Type>
        <BlobType>BlockBlob</BlobType>
        <AccessTier>Cool</AccessTier>
        <ServerEncrypted>true</ServerEncrypted>
        <ImmutabilityPolicyUntilDate>Thu, 05 Jan 2033 10:00:00 GMT</ImmutabilityPolicyUntilDate>
        <ImmutabilityPolicyMode>locked</ImmutabilityPolicyMode>
        <LegalHold>true</LegalHold>
      </Properties>
      <Metadata><sha256>{SHA}</sha256></Metadata>
    </Blob>
    <Blob>
      <Name>{NAME}</Name>
      <VersionId>{V2}</VersionId>
      <IsCurrentVersion>true</IsCurrentVersion>
      <Properties>
        <Creation-Time>Tue, 06 Jan 2026 11:30:00 GMT</Creation-Time>
        <Last-Modified>Tue, 06 Jan 2026 11:30:00 GMT</Last-Modified>
        <Etag>0x8DE2222222222222</Etag>
        <Content-Length>640</Content-Length>
        <Content-Type>application/json</Content-Type>
        <BlobType>BlockBlob</BlobType>
        <ServerEncrypted>true</ServerEncrypted>
        <ImmutabilityPolicyUntilDate>Fri, 06 Jan 2034 11:30:00 GMT</ImmutabilityPolicyUntilDate>
        <ImmutabilityPolicyMode>unlocked</ImmutabilityPolicyMode>
        <LegalHold>false</LegalHold>
      </Properties>
      <Metadata />
    </Blob>
    <Blob>
      <Name>{NAME}.1</Name>
      <VersionId>{V2}</VersionId>
      <IsCurrentVersion>true</IsCurrentVersion>
      <Properties>
        <Last-Modified>Tue, 06 Jan 2026 11:30:00 GMT</Last-Modified>
        <Etag>0x8DE3333333333333</Etag>
        <Content-Length>1</Content-Length>
        <BlobType>BlockBlob</BlobType>
      </Properties>
    </Blob>
  </Blobs>
  <NextMarker />
</EnumerationResults>""".encode()

XML = {"Content-Type": "application/xml"}


def _unversioned(listing: bytes) -> bytes:
    """The same listing from a service without versioning: no VersionId elements."""
    for version_id in (V1, V2):
        listing = listing.replace(f"<VersionId>{version_id}</VersionId>".encode(), b"")
    return listing


def test_versions_of_sends_the_documented_listing_and_parses_each_version() -> None:
    fake = FakeBlobService(lambda *_: (200, XML, LISTING))

    versions = versions_of(_container(fake), NAME)

    [(method, path, query, _)] = fake.requests
    assert (method, path) == ("GET", "/records")
    assert query["restype"] == ["container"] and query["comp"] == ["list"]
    assert query["prefix"] == [NAME]
    assert sorted(query["include"][0].split(",")) == [
        "immutabilitypolicy",
        "legalhold",
        "metadata",
        "versions",
    ]
    assert versions == [
        BlobVersion(
            container="records",
            name=NAME,
            version_id=V1,
            is_current=False,
            size=512,
            legal_hold=True,
            immutable_until=datetime(2033, 1, 5, 10, 0, tzinfo=UTC),
            sha256=SHA,
        ),
        BlobVersion(
            container="records",
            name=NAME,
            version_id=V2,
            is_current=True,
            size=640,
            legal_hold=False,
            immutable_until=datetime(2034, 1, 6, 11, 30, tzinfo=UTC),
            sha256=None,
        ),
    ]


def test_list_versions_follows_the_continuation_marker() -> None:
    # The SDK sends the next request with the <Prefix> the service echoed back.
    listing = LISTING.replace(f"<Prefix>{NAME}</Prefix>".encode(), b"<Prefix>year=2026/</Prefix>")
    first = listing.replace(b"<NextMarker />", b"<NextMarker>page2</NextMarker>")

    def answer(method: str, path: str, query: Query, headers: Headers) -> Answer:
        return 200, XML, (listing if query.get("marker") == ["page2"] else first)

    fake = FakeBlobService(answer)
    versions = list(list_versions(_container(fake), "year=2026/"))

    assert len(versions) == 6
    assert [q.get("marker") for _, _, q, _ in fake.requests] == [None, ["page2"]]
    assert all(q["prefix"] == ["year=2026/"] for _, _, q, _ in fake.requests)


def test_a_rejected_include_falls_back_to_the_current_blobs() -> None:
    plain = _unversioned(LISTING)

    def answer(method: str, path: str, query: Query, headers: Headers) -> Answer:
        if "versions" in query["include"][0]:
            return _error(
                400,
                "InvalidQueryParameterValue",
                "Value for one of the query parameters specified in the request URI is invalid.",
            )
        return 200, XML, plain

    fake = FakeBlobService(answer)
    versions = versions_of(_container(fake), NAME)

    assert [q["include"] for _, _, q, _ in fake.requests] == [
        ["versions,legalhold,immutabilitypolicy,metadata"],
        ["metadata"],
    ]
    assert [v.version_id for v in versions] == [None, None]
    assert all(v.is_current for v in versions)


def test_other_listing_errors_are_raised() -> None:
    fake = FakeBlobService(lambda *_: _error(403, "AuthorizationPermissionMismatch", "no"))
    with pytest.raises(HttpResponseError):
        versions_of(_container(fake), NAME)


def _version(version_id: str | None = V1, name: str = NAME) -> BlobVersion:
    return BlobVersion("records", name, version_id, False, 512, False, None, SHA)


@pytest.mark.parametrize("on", [True, False])
def test_set_legal_hold_puts_comp_legalhold_on_the_version(on: bool) -> None:
    value = "true" if on else "false"
    fake = FakeBlobService(lambda *_: (200, {"x-ms-legal-hold": value}, b""))

    assert set_legal_hold(_container(fake), _version(), on) == "set"

    [(method, path, query, headers)] = fake.requests
    assert (method, path) == ("PUT", f"/records/{NAME}")
    assert query["comp"] == ["legalhold"]
    assert query["versionid"] == [V1]
    assert headers["x-ms-legal-hold"] == value
    # The operation exists from service version 2020-04-08 on.
    assert headers["x-ms-version"] >= "2020-04-08"


def test_set_legal_hold_without_a_version_addresses_the_blob() -> None:
    fake = FakeBlobService(lambda *_: (200, {"x-ms-legal-hold": "true"}, b""))
    assert set_legal_hold(_container(fake), _version(None), True) == "set"
    [(_, _, query, _)] = fake.requests
    assert "versionid" not in query


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [
        (_error(404, "BlobNotFound", "The specified blob does not exist."), "gone"),
        (_error(501, "APINotImplemented", "Current API is not implemented yet."), "unsupported"),
    ],
)
def test_set_legal_hold_outcomes(answer: Answer, outcome: str) -> None:
    fake = FakeBlobService(lambda *_: answer)
    assert set_legal_hold(_container(fake), _version(), True) == outcome
    assert len(fake.requests) == 1  # no retry of a 501


def test_set_legal_hold_raises_when_not_authorised() -> None:
    fake = FakeBlobService(
        lambda *_: _error(403, "AuthorizationPermissionMismatch", "This request is not authorized.")
    )
    with pytest.raises(HttpResponseError):
        set_legal_hold(_container(fake), _version(), True)


def test_delete_version_sends_delete_with_versionid() -> None:
    fake = FakeBlobService(lambda *_: (202, {"x-ms-delete-type-permanent": "false"}, b""))

    assert delete_version(_container(fake), _version()) == "deleted"

    [(method, path, query, headers)] = fake.requests
    assert (method, path) == ("DELETE", f"/records/{NAME}")
    assert query["versionid"] == [V1]
    assert "x-ms-delete-snapshots" not in headers


def test_delete_without_a_version_is_a_plain_delete() -> None:
    fake = FakeBlobService(lambda *_: (202, {}, b""))
    assert delete_version(_container(fake), _version(None)) == "deleted"
    [(method, _, query, _)] = fake.requests
    assert method == "DELETE" and "versionid" not in query


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [
        (
            _error(
                409,
                "BlobImmutableDueToLegalHold",
                "This operation is not permitted as the blob is immutable due to one or more "
                "legal holds.",
            ),
            "held",
        ),
        (
            _error(
                409,
                "BlobImmutableDueToPolicy",
                "This operation is not permitted as the blob is immutable due to a policy.",
            ),
            "immutable",
        ),
        (_error(404, "BlobNotFound", "The specified blob does not exist."), "gone"),
    ],
)
def test_delete_version_outcomes(answer: Answer, outcome: str) -> None:
    fake = FakeBlobService(lambda *_: answer)
    assert delete_version(_container(fake), _version()) == outcome


@pytest.mark.parametrize(
    "answer",
    [
        _error(409, "LeaseIdMissing", "There is currently a lease on the blob."),
        _error(403, "AuthorizationPermissionMismatch", "This request is not authorized."),
        _error(500, "InternalError", "The server encountered an internal error."),
    ],
)
def test_delete_version_raises_anything_else(answer: Answer) -> None:
    fake = FakeBlobService(lambda *_: answer)
    with pytest.raises(HttpResponseError):
        delete_version(_container(fake), _version())


def _probe_answer(worm: bool, versioned_blob: bool) -> Callable[..., Answer]:
    def answer(method: str, path: str, query: Query, headers: Headers) -> Answer:
        if query.get("comp") == ["list"]:
            return 200, XML, (LISTING if versioned_blob else _unversioned(LISTING))
        props = {"ETag": '"0x8DE0"', "Last-Modified": "Mon, 05 Jan 2026 10:00:00 GMT"}
        if worm:
            props["x-ms-immutable-storage-with-versioning-enabled"] = "true"
        return 200, props, b""

    return answer


@pytest.mark.parametrize(
    ("worm", "versioned_blob", "expected"),
    [(True, False, True), (False, True, True), (False, False, False)],
)
def test_versioning_is_detected_once_per_account(
    worm: bool, versioned_blob: bool, expected: bool, caplog: pytest.LogCaptureFixture
) -> None:
    blob_versions.forget_detection()
    fake = FakeBlobService(_probe_answer(worm, versioned_blob))
    service = _service(fake)

    with caplog.at_level(logging.INFO, logger="storage.blob_versions"):
        assert versioning_supported(service) is expected
        probes = len(fake.requests)
        assert versioning_supported(_service(fake)) is expected  # another client, same account

    assert probes >= 1 and len(fake.requests) == probes
    assert len([r for r in caplog.records if r.name == "storage.blob_versions"]) == 1
    if worm:
        # Version-level WORM shows on the container itself, before any blob is listed.
        assert [(m, q.get("restype")) for m, _, q, _ in fake.requests] == [("GET", ["container"])]
    blob_versions.forget_detection()


def test_detection_never_logs_blob_names(caplog: pytest.LogCaptureFixture) -> None:
    blob_versions.forget_detection()
    fake = FakeBlobService(lambda *_: _error(403, "AuthorizationPermissionMismatch", "no"))
    with caplog.at_level(logging.DEBUG, logger="storage.blob_versions"):
        assert versioning_supported(_service(fake)) is False
    assert "legal holds rely on the Holds table" in caplog.text
    assert "wamid" not in caplog.text
    blob_versions.forget_detection()
