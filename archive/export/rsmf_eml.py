"""The RSMF container: a deterministic ``rsmf.zip`` inside an RFC 5322 message (pure).

Relativity reads an RSMF file as an e-mail with exactly one base64 attachment named
``rsmf.zip`` whose root holds ``rsmf_manifest.json`` and the files the manifest names.
Everything here writes to streams the caller opened, and the same input always yields the
same bytes, because Relativity deduplicates RSMF files the way it does e-mail.

The zip is written by hand rather than with :mod:`zipfile`: streaming a member into a
``ZipFile`` needs its ``open`` method, which the pure core does not use (see
``tests/unit/test_boundaries.py``), and writing the few fixed fields ourselves also pins
every byte. Members are *stored*, never deflated: media are already compressed, and deflate
output may differ between zlib builds, which would break byte-identical re-exports.
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email import policy
from email.utils import formataddr
from typing import BinaryIO

from archive.encoding import key_segment

MAIL_DOMAIN = "whatsapp.invalid"  # RFC 2606: a name that can never be a real mailbox
MANIFEST_NAME = "rsmf_manifest.json"
ZIP_NAME = "rsmf.zip"
CRLF = b"\r\n"
_CHUNK = 1024 * 1024
# 57 input bytes are one 76-character base64 line (RFC 2045's limit).
_B64_LINE = 57
_B64_CHUNK = _B64_LINE * 16384
# Names we put in the zip: portable on every file system a reviewer may unpack to.
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
# Unicode line breaks and control characters would end a header early (U+2028 folds to a
# bare CRLF in the stdlib), so they never reach one.
_UNSAFE_HEADER_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_HEADER_POLICY = policy.SMTP.clone(max_line_length=78)

# Fixed member time: 1980-01-01 00:00:00, the earliest DOS date, as reproducible builds use.
_DOS_TIME = 0
_DOS_DATE = (0 << 9) | (1 << 5) | 1
# Sizes and offsets from this limit on go into zip64 records; a module constant so a test
# can force them. The 32/16-bit fields then hold the all-ones marker readers look for.
ZIP64_LIMIT = 0xFFFFFFFF
_MARK32 = 0xFFFFFFFF
_MARK16 = 0xFFFF


@dataclass(frozen=True)
class RsmfAttachment:
    """One media file for the zip. ``open_content`` opens its bytes (the caller's I/O).

    ``sha256`` and ``size`` are the archive's own values from the record; the writer checks
    the streamed bytes against both and refuses to produce a file with different content.
    """

    id: str  # the media id it came from (for the caller's bookkeeping)
    name: str  # file name inside rsmf.zip, and the RSMF attachment id
    sha256: str
    size: int
    open_content: Callable[[], BinaryIO]


class RsmfError(ValueError):
    """The input cannot become a valid RSMF file (bad name, content mismatch, nothing to write)."""


def check_member_name(name: str) -> None:
    if not _SAFE_NAME.fullmatch(name) or name == MANIFEST_NAME or ".." in name:
        raise RsmfError(f"unsafe or reserved file name for rsmf.zip: {name!r}")


@dataclass
class _Member:
    name: bytes
    offset: int
    crc: int
    size: int


def _local_header(name: bytes, crc: int, size: int, zip64: bool) -> bytes:
    extra = struct.pack("<HHQQ", 0x0001, 16, size, size) if zip64 else b""
    shown = _MARK32 if zip64 else size
    return struct.pack(
        "<IHHHHHIIIHH", 0x04034B50, 45 if zip64 else 20, 0, 0, _DOS_TIME, _DOS_DATE,
        crc, shown, shown, len(name), len(extra),
    ) + name + extra


def _central_header(member: _Member) -> bytes:
    fields: list[int] = []
    size = member.size
    offset = member.offset
    if size >= ZIP64_LIMIT:
        fields += [size, size]
        size = _MARK32
    if offset >= ZIP64_LIMIT:
        fields.append(offset)
        offset = _MARK32
    extra = struct.pack(f"<HH{len(fields)}Q", 0x0001, 8 * len(fields), *fields) if fields else b""
    version = 45 if fields else 20
    return struct.pack(
        "<IHHHHHHIIIHHHHHII", 0x02014B50, version, version, 0, 0, _DOS_TIME, _DOS_DATE,
        member.crc, size, size, len(member.name), len(extra), 0, 0, 0, 0, offset,
    ) + member.name + extra


def _end_records(count: int, cd_offset: int, cd_size: int) -> bytes:
    records = b""
    zip64 = count >= _MARK16 or cd_offset >= ZIP64_LIMIT or cd_size >= ZIP64_LIMIT
    if zip64:
        end64_offset = cd_offset + cd_size
        records += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, count, count,
                               cd_size, cd_offset)
        records += struct.pack("<IIQI", 0x07064B50, 0, end64_offset, 1)
    entries = min(count, _MARK16)
    return records + struct.pack(
        "<IHHHHIIH", 0x06054B50, 0, 0, entries, entries, _MARK32 if zip64 else cd_size,
        _MARK32 if zip64 else cd_offset, 0,
    )


def _write_bytes_member(out: BinaryIO, name: str, data: bytes) -> _Member:
    encoded = name.encode("ascii")
    member = _Member(encoded, out.tell(), zlib.crc32(data), len(data))
    out.write(_local_header(encoded, member.crc, member.size, member.size >= ZIP64_LIMIT))
    out.write(data)
    return member


def _write_stream_member(out: BinaryIO, attachment: RsmfAttachment) -> _Member:
    """Stream one attachment in, then patch its CRC into the header already written."""
    encoded = attachment.name.encode("ascii")
    zip64 = attachment.size >= ZIP64_LIMIT
    offset = out.tell()
    out.write(_local_header(encoded, 0, attachment.size, zip64))
    crc = 0
    size = 0
    digest = hashlib.sha256()
    with attachment.open_content() as source:
        while chunk := source.read(_CHUNK):
            crc = zlib.crc32(chunk, crc)
            size += len(chunk)
            digest.update(chunk)
            out.write(chunk)
    if size != attachment.size or digest.hexdigest() != attachment.sha256.lower():
        raise RsmfError(f"content of {attachment.name} does not match its recorded size/sha256")
    end = out.tell()
    out.seek(offset)
    out.write(_local_header(encoded, crc, size, zip64))
    out.seek(end)
    return _Member(encoded, offset, crc, size)


def write_zip(out: BinaryIO, manifest: bytes, attachments: Sequence[RsmfAttachment]) -> int:
    """``rsmf.zip`` into the seekable ``out`` (from its start); returns its size in bytes.

    The manifest comes first (a reader finds it without the central directory), then the
    attachments sorted by name. Duplicate names are refused.
    """
    names = [a.name for a in attachments]
    if len(set(names)) != len(names):
        raise RsmfError("two attachments share one name in rsmf.zip")
    for name in names:
        check_member_name(name)
    for attachment in attachments:
        if not _SHA256.fullmatch(attachment.sha256.lower()) or attachment.size < 0:
            raise RsmfError(f"attachment {attachment.name} lacks a valid sha256 or size")
    out.seek(0)
    out.truncate()
    members = [_write_bytes_member(out, MANIFEST_NAME, manifest)]
    for attachment in sorted(attachments, key=lambda a: a.name):
        members.append(_write_stream_member(out, attachment))
    cd_offset = out.tell()
    for member in members:
        out.write(_central_header(member))
    cd_size = out.tell() - cd_offset
    out.write(_end_records(len(members), cd_offset, cd_size))
    return out.tell()


def mailbox(party: str) -> str:
    """A valid, never-deliverable address for a WhatsApp id (E.164, BSUID or group id)."""
    local = key_segment(party)
    if local.startswith(".") or ".." in local:
        local = local.replace(".", "~2E")  # a dot-atom forbids these; still decodes the same
    return f"{local}@{MAIL_DOMAIN}"


def address(display: str | None, party: str) -> str:
    """``Display <mailbox>`` with the display name cleaned before it is encoded.

    Cleaning must come first: an RFC 2047 word would carry a CR/LF through to the parser.
    Keep parentheses out of ``display``: inside an encoded word they come back a comment.
    """
    name = header_text(display or "")
    return formataddr((name, mailbox(party))) if name else mailbox(party)


def header_text(value: str) -> str:
    """``value`` made safe for one header: no control characters or line breaks."""
    return " ".join(_UNSAFE_HEADER_CHARS.sub(" ", value).split())


def fold_header(name: str, value: str) -> bytes:
    """One header line, folded at 78 columns, non-ASCII as RFC 2047 encoded-words."""
    # Through a header object always: policy.fold() passes a short value through as it is,
    # non-ASCII included, and only a header object encodes it.
    header = _HEADER_POLICY.header_factory(name, header_text(value))
    folded: str = header.fold(policy=_HEADER_POLICY)
    data = folded.encode("ascii")
    # Belt and braces: a header must never carry a line that does not start with a fold.
    lines = data.split(CRLF)
    if lines[-1] != b"" or any(not line[:1].isspace() for line in lines[1:-1]):
        raise RsmfError(f"header {name} would not fold safely")
    return data


def _base64_lines(data: bytes) -> bytes:
    encoded = base64.b64encode(data)
    return b"".join(encoded[i:i + 76] + CRLF for i in range(0, len(encoded), 76))


class _HashingWriter:
    """Writes through to ``out`` while counting and hashing, for the summary."""

    def __init__(self, out: BinaryIO) -> None:
        self.out = out
        self.size = 0
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> None:
        self.out.write(data)
        self.size += len(data)
        self.digest.update(data)


@dataclass(frozen=True)
class EmlResult:
    size: int
    sha256: str
    zip_sha256: str


def write_eml(out: BinaryIO, *, headers: Sequence[tuple[str, str]], body: str,
              zip_stream: BinaryIO, boundary: str) -> EmlResult:
    """The message: ``headers``, a short text part, and ``zip_stream`` as ``rsmf.zip``.

    The zip is read from its start in chunks and base64-encoded line by line, so it is never
    held in memory. ``boundary`` must be made of characters base64 never produces (the
    caller derives it from the content hash and prefixes ``=_``), so it cannot collide.
    """
    if not re.fullmatch(r"=_[A-Za-z0-9_.-]{1,68}", boundary):
        raise RsmfError("boundary must be '=_' plus up to 68 safe characters")
    writer = _HashingWriter(out)
    for name, value in headers:
        writer.write(fold_header(name, value))
    writer.write(b"MIME-Version: 1.0" + CRLF)
    writer.write(f'Content-Type: multipart/mixed; boundary="{boundary}"'.encode("ascii") + CRLF)
    writer.write(CRLF + b"This is an RSMF file (Relativity Short Message Format)." + CRLF)
    delimiter = b"--" + boundary.encode("ascii")
    writer.write(CRLF + delimiter + CRLF)
    writer.write(b'Content-Type: text/plain; charset="utf-8"' + CRLF)
    writer.write(b"Content-Transfer-Encoding: base64" + CRLF + CRLF)
    writer.write(_base64_lines(body.encode("utf-8")))
    writer.write(CRLF + delimiter + CRLF)
    writer.write(f'Content-Type: application/octet-stream; name="{ZIP_NAME}"'.encode("ascii")
                 + CRLF)
    writer.write(b"Content-Transfer-Encoding: base64" + CRLF)
    writer.write(f'Content-Disposition: attachment; filename="{ZIP_NAME}"'.encode("ascii")
                 + CRLF + CRLF)
    zip_digest = hashlib.sha256()
    zip_stream.seek(0)
    carry = b""  # a read may come back short: encode whole 57-byte lines only, until the end
    while chunk := zip_stream.read(_B64_CHUNK):
        zip_digest.update(chunk)
        carry += chunk
        whole = len(carry) - len(carry) % _B64_LINE
        writer.write(_base64_lines(carry[:whole]))
        carry = carry[whole:]
    writer.write(_base64_lines(carry))
    writer.write(CRLF + delimiter + b"--" + CRLF)
    return EmlResult(size=writer.size, sha256=writer.digest.hexdigest(),
                     zip_sha256=zip_digest.hexdigest())
