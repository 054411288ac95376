"""The export's renderings: transcripts (HTML, PDF) and RSMF, one conversation at a time.

The records pass spilled each conversation's records to its own file in the staging
folder; here each is read back, turned into a Conversation (archive/export/conversation)
and handed to the pure writers with open streams. Memory holds one conversation.
A rendering a previous run finished is kept when its bytes still hash to what that run
recorded (PDF and RSMF are deterministic anyway: their dates come from the export's
start).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from admin.connection import AdminError
from admin.export_files import sha256_file
from archive.export import bundle as b
from archive.export.conversation import (
    Conversation,
    build_conversations,
    message_index,
    split_by_day,
)
from archive.export.transcript import ExportedFile, TranscriptContext

if TYPE_CHECKING:
    from admin.export import Collected, Exporter

RSMF_MAX_EVENTS = 10_000
RSMF_MAX_BYTES = 2 * 1024**3


def _conversations(spill: Path) -> list[Conversation]:
    pairs: list[tuple[str, dict[str, Any]]] = []
    with spill.open("rb") as handle:
        for line in handle:
            path, text = json.loads(line)
            pairs.append((str(path), json.loads(text)))
    return build_conversations(pairs)


def _periods(exporter: Exporter, conversation: Conversation
             ) -> Iterator[tuple[date | None, Conversation, str]]:
    if exporter.options.period == "day":
        for day, part in split_by_day(conversation, exporter.tz):
            yield day, part, day.isoformat()
        return
    scope = exporter.scope
    if conversation.entries:
        first = scope.start or conversation.entries[0].at.astimezone(exporter.tz).date()
        last = scope.end or conversation.entries[-1].at.astimezone(exporter.tz).date()
        label = f"{first.isoformat()} to {last.isoformat()}"
    else:
        label = "empty"
    yield None, conversation, label


def _font_dir() -> str:
    import matplotlib  # ships the DejaVu fonts the PDF writer needs

    return str(Path(matplotlib.get_data_path()) / "fonts" / "ttf")


class Renderer:
    def __init__(self, exporter: Exporter, collected: Collected, state: dict[str, Any]) -> None:
        self.exporter = exporter
        self.staging = exporter.staging
        self.state = state
        self.rendered: dict[str, str] = dict(state.get("rendered") or {})
        self.files = {sha: ExportedFile(rel, ref.filename, ref.mime_type,
                                        self.staging.facts[rel].size, sha)
                      for sha, (rel, ref) in exporter.media_files(collected).items()
                      if rel in self.staging.facts}
        self.created_at = datetime.fromisoformat(state["created_at"])
        self.formats = exporter.options.formats

    def open_file(self, exported: ExportedFile) -> BinaryIO:
        return self.staging.path(exported.bundle_path).open("rb")

    def produce(self, rel: str, write: Callable[[BinaryIO], None]) -> None:
        """Write `rel` through a temporary file unless a previous run finished it."""
        if rel in self.rendered and self.staging.existing(rel, self.rendered[rel]):
            return
        target = self.staging.path(rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        try:
            with tmp.open("wb") as handle:
                write(handle)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        fact = sha256_file(tmp)
        assert fact is not None
        tmp.replace(target)
        self.staging.done(rel, fact)
        self.rendered[rel] = fact.sha256
        self.state["rendered"] = self.rendered
        self.staging.save_state(self.state)

    def conversation(self, whole: Conversation) -> None:
        messages = message_index([whole])
        for day, part, label in _periods(self.exporter, whole):
            ctx = TranscriptContext(
                export_id=self.state["export_id"], tz=self.exporter.tz, period_label=label,
                files=self.files, open_file=self.open_file, link_prefix="../",
                created_at=self.created_at, messages=messages)
            if "html" in self.formats:
                from archive.export.transcript_html import write_html

                def html(out: BinaryIO, part: Conversation = part,
                         ctx: TranscriptContext = ctx) -> None:
                    write_html(part, out, ctx)

                self.produce(b.transcript_file(part.key, "html", day), html)
            if "pdf" in self.formats:
                from admin.transcript_pdf import write_pdf

                def pdf(out: BinaryIO, part: Conversation = part,
                        ctx: TranscriptContext = ctx) -> None:
                    write_pdf(part, out, ctx, font_dir=_font_dir())

                self.produce(b.transcript_file(part.key, "pdf", day), pdf)
            if "rsmf" in self.formats:
                self.rsmf(part, day)

    def rsmf(self, part: Conversation, day: date | None) -> None:
        try:
            from archive.export import rsmf
        except ImportError:
            raise AdminError("this build cannot write RSMF yet (archive/export/rsmf.py is "
                             "missing); export without rsmf") from None
        def opener(exported: ExportedFile) -> Callable[[], BinaryIO]:
            return lambda: self.open_file(exported)

        def name_of(f: ExportedFile) -> str:
            # The writer names zip members itself (sha256 + the mime type's extension).
            return rsmf.attachment_name({"state": "stored", "sha256": f.sha256,
                                         "mime_type": f.mime_type}) or f.sha256

        attachments = {sha: rsmf.RsmfAttachment(
            id=f.sha256, name=name_of(f), sha256=f.sha256, size=f.size,
            open_content=opener(f)) for sha, f in self.files.items()}
        pieces = rsmf.split_entries(part, max_events=RSMF_MAX_EVENTS, max_bytes=RSMF_MAX_BYTES)
        for number, entries in enumerate(pieces, 1):
            rel = b.rsmf_file(part.key, day, number, len(pieces))

            def write(out: BinaryIO, entries: Any = entries) -> None:
                with tempfile.TemporaryFile(dir=self.staging.state_dir) as scratch:
                    rsmf.write_rsmf(part, entries, out, attachments=attachments,
                                    generator=self.exporter_tool(),
                                    export_id=self.state["export_id"], scratch=scratch)

            self.produce(rel, write)

    def exporter_tool(self) -> str:
        from admin.export import TOOL

        return TOOL


def render_all(exporter: Exporter, collected: Collected, state: dict[str, Any]) -> None:
    renderer = Renderer(exporter, collected, state)
    spill_dir = exporter.staging.scratch("conversations")
    for key in sorted(collected.conversations):
        spill = spill_dir / collected.conversations[key]
        if not spill.exists():
            continue
        for conversation in _conversations(spill):
            renderer.conversation(conversation)
