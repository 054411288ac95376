"""The export's staging folder: atomic files, hashing as they are written, resume state.

Everything is written under `<out>.partial/` (for a zip, `<out>.partial/` is packed into
`<name>.partial.zip`), each file first as `<file>.tmp` and renamed only when whole, so a
crash never leaves a file that looks complete. `.export-state/` inside the staging folder
holds what a resumed run needs (the query, the selection, when it started); it is
removed before the staging folder becomes the production.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from admin.connection import AdminError
from archive.export.bundle import FileFact, is_bundle_path

STATE_DIR = ".export-state"
STATE_FILE = "state.json"
CHUNK = 4 * 1024 * 1024
# Already compressed: storing them again deflated costs CPU and gains nothing.
_STORED_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".mp4", ".3gp", ".mov", ".ogg",
                    ".opus", ".mp3", ".m4a", ".aac", ".amr", ".pdf", ".zip", ".docx",
                    ".xlsx", ".pptx")


def staging_paths(out: Path) -> tuple[Path, Path | None]:
    """(staging folder, partial zip or None) for the requested --out."""
    if out.suffix.lower() == ".zip":
        return out.with_name(out.name + ".partial"), out.with_name(out.stem + ".partial.zip")
    return out.with_name(out.name + ".partial"), None


def sha256_file(path: Path) -> FileFact | None:
    """Streamed size and sha256 of a file (None if it is not there)."""
    digest, size = hashlib.sha256(), 0
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
    except FileNotFoundError:
        return None
    return FileFact("", size, digest.hexdigest())


class HashingWriter:
    """A binary sink that hashes and counts what passes through it."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.handle.write(data)
        self.digest.update(data)
        self.size += len(data)
        return len(data)


class Staging:
    """The staging folder of one export."""

    def __init__(self, root: Path, on_file: Callable[[str], None] | None = None) -> None:
        self.root = root
        self.state_dir = root / STATE_DIR
        self.facts: dict[str, FileFact] = {}
        self.on_file = on_file  # called after each file is complete (tests inject failures)

    def path(self, rel: str) -> Path:
        if not is_bundle_path(rel):
            raise AdminError(f"refusing an unsafe bundle path: {rel!r}")
        return self.root / rel

    def prepare(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)

    # --- resume state -------------------------------------------------------------

    def load_state(self) -> dict[str, Any] | None:
        try:
            data = json.loads((self.state_dir / STATE_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def save_state(self, state: dict[str, Any]) -> None:
        self.prepare()
        target = self.state_dir / STATE_FILE
        tmp = target.with_name(STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(state, sort_keys=True), encoding="utf-8")
        os.replace(tmp, target)

    def scratch(self, name: str) -> Path:
        self.prepare()
        return self.state_dir / name

    # --- files ----------------------------------------------------------------------

    def done(self, rel: str, fact: FileFact) -> FileFact:
        fact = FileFact(rel, fact.size, fact.sha256)
        self.facts[rel] = fact
        if self.on_file is not None:
            self.on_file(rel)
        return fact

    def existing(self, rel: str, sha256: str | None = None) -> FileFact | None:
        """A file a previous run completed: kept when its bytes hash to `sha256` (or, with
        no expected hash, whatever they hash to). Anything else is deleted."""
        target = self.path(rel)
        fact = sha256_file(target)
        if fact is None:
            return None
        if sha256 is not None and fact.sha256 != sha256:
            target.unlink()
            return None
        return self.done(rel, fact)

    def write_chunks(self, rel: str, chunks: Iterable[bytes],
                     expect_sha256: str | None = None,
                     progress: Callable[[int], None] | None = None) -> FileFact:
        """Stream `chunks` into `rel` (via .tmp), hashing as it goes; renamed only when
        whole and, with `expect_sha256`, only when the bytes hash to it."""
        target = self.path(rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        with tmp.open("wb") as handle:
            sink = HashingWriter(handle)
            for chunk in chunks:
                sink.write(chunk)
                if progress is not None:
                    progress(len(chunk))
        sha = sink.digest.hexdigest()
        if expect_sha256 is not None and sha != expect_sha256:
            tmp.unlink()
            raise AdminError(
                f"{rel}: the archived bytes do not hash to the sha256 their record names "
                "(run `wa-archive verify`)")
        os.replace(tmp, target)
        return self.done(rel, FileFact(rel, sink.size, sha))

    def write_bytes(self, rel: str, data: bytes) -> FileFact:
        return self.write_chunks(rel, [data])

    def open_writer(self, rel: str) -> AtomicWriter:
        return AtomicWriter(self, rel)

    # --- finishing ------------------------------------------------------------------

    def files(self) -> Iterator[str]:
        """Every bundle file on disk (relative POSIX paths), state excluded."""
        for path in sorted(self.root.rglob("*")):
            rel = path.relative_to(self.root).as_posix()
            if path.is_file() and not rel.startswith(STATE_DIR + "/"):
                yield rel

    def drop_stray(self, keep: set[str]) -> None:
        """Remove files a previous run left that this one did not produce (.tmp files,
        renderings of an older attempt): the production holds what the manifest lists."""
        for rel in list(self.files()):
            if rel not in keep:
                (self.root / rel).unlink()

    def finish_folder(self, out: Path) -> None:
        shutil.rmtree(self.state_dir, ignore_errors=True)
        os.replace(self.root, out)

    def finish_zip(self, partial_zip: Path, out: Path, date_time: tuple[int, ...]) -> None:
        """Pack the staging folder into the partial zip, then rename it into place."""
        with zipfile.ZipFile(partial_zip, "w", allowZip64=True) as archive:
            for rel in self.files():
                source = self.root / rel
                info = zipfile.ZipInfo(rel, date_time=date_time[:6])  # type: ignore[arg-type]
                stored = rel.lower().endswith(_STORED_SUFFIXES)
                info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                with source.open("rb") as src, archive.open(info, "w", force_zip64=True) as dst:
                    shutil.copyfileobj(src, dst, CHUNK)
        os.replace(partial_zip, out)
        shutil.rmtree(self.root, ignore_errors=True)


class AtomicWriter:
    """A bundle file written in pieces (records.jsonl, index.csv), renamed when closed."""

    def __init__(self, staging: Staging, rel: str) -> None:
        self.staging = staging
        self.rel = rel
        self.target = staging.path(rel)
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.target.with_name(self.target.name + ".tmp")
        self._handle = self.tmp.open("wb")
        self.sink = HashingWriter(self._handle)

    def write(self, data: bytes) -> None:
        self.sink.write(data)

    def close(self) -> FileFact:
        self._handle.close()
        os.replace(self.tmp, self.target)
        return self.staging.done(self.rel, FileFact(self.rel, self.sink.size,
                                                    self.sink.digest.hexdigest()))

    def abort(self) -> None:
        self._handle.close()
        self.tmp.unlink(missing_ok=True)
