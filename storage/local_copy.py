"""A local copy of the archive's containers, read as if it were the Blob service.

For `wa-archive verify --offline --source DIR`: an auditor copies the containers
(`azcopy copy https://<account>.blob.core.windows.net/<container> DIR --recursive` for
each, or Storage Explorer's download) and verifies them with no Azure access at all. DIR holds one
folder per container (`raw/`, `records/`, `media/`, `audit/`, `deadletter/`, `seals/`),
each with the blob names as relative paths.

Only what verification calls is offered: listing by prefix, streamed reads, and
properties. File copies carry no blob metadata, so references are checked for
existence only and the chain is read from the seals themselves.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azure.core.exceptions import ResourceNotFoundError

_CHUNK = 4 * 1024 * 1024


@dataclass(frozen=True)
class LocalBlob:
    name: str
    size: int
    metadata: dict[str, str] = field(default_factory=dict)


class _Download:
    def __init__(self, path: Path) -> None:
        self.path = path

    def chunks(self) -> Iterator[bytes]:
        with self.path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                yield chunk

    def readall(self) -> bytes:
        return self.path.read_bytes()


class _Pages:
    def __init__(self, blobs: list[LocalBlob]) -> None:
        self.blobs = blobs

    def __iter__(self) -> Iterator[LocalBlob]:
        return iter(self.blobs)

    def by_page(self) -> Iterator[list[LocalBlob]]:
        for start in range(0, len(self.blobs), 5000):
            yield self.blobs[start:start + 5000]


class LocalContainer:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, name: str) -> Path:
        path = (self.root / name).resolve()
        if self.root.resolve() not in path.parents or not path.is_file():
            raise ResourceNotFoundError(f"{name} is not in the local copy")
        return path

    def list_blobs(self, name_starts_with: str = "", include: Any = None) -> _Pages:
        # Prefixes are folder paths (`year=.../day=DD/`, `daily/`): walk only that folder.
        base = self.root / name_starts_with.rpartition("/")[0]
        if not base.is_dir():
            return _Pages([])
        found = [LocalBlob(p.relative_to(self.root).as_posix(), p.stat().st_size)
                 for p in base.rglob("*") if p.is_file()]
        return _Pages(sorted((b for b in found if b.name.startswith(name_starts_with)),
                             key=lambda b: b.name))

    def download_blob(self, name: str) -> _Download:
        return _Download(self._path(name))

    def get_blob_client(self, name: str) -> LocalContainer._Blob:
        return LocalContainer._Blob(self, name)

    class _Blob:
        def __init__(self, container: LocalContainer, name: str) -> None:
            self.container, self.name = container, name

        def get_blob_properties(self) -> LocalBlob:
            path = self.container._path(self.name)
            return LocalBlob(self.name, path.stat().st_size)


class LocalArchive:
    """Stands in for BlobServiceClient in storage.verification (read-only)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def get_container_client(self, name: str) -> LocalContainer:
        return LocalContainer(self.root / name)
