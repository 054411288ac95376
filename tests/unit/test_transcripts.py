"""HTML and PDF transcripts (issue #12): what a reviewer reads, checked from the output.

The PDF is read back with pypdf: every message in order with its local time, the header
and footer on every page, the embedded image. The HTML is checked as text: escaped,
self-contained, images inline as data: URIs.
"""

from __future__ import annotations

import base64
import hashlib
import io
import random
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, BinaryIO

import matplotlib
import pytest
from PIL import Image
from pypdf import PdfReader

from admin.transcript_pdf import write_pdf
from archive.export.conversation import (
    Conversation,
    build_conversations,
    message_index,
    split_by_day,
)
from archive.export.transcript import ExportedFile, TranscriptContext, local_time
from archive.export.transcript_html import write_html
from archive.record import MediaOutcome
from tests.unit.test_export_conversation import (
    HOSTILE,
    KEY,
    NEW_YORK,
    RTL_TEXT,
    at,
    parsed,
    record,
    scenario_records,
)

pytestmark = pytest.mark.unit

FONT_DIR = matplotlib.get_data_path() + "/fonts/ttf"
EXPORT_ID = "exp-20240601T120000Z-7f3a"
CREATED = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
# Message texts in the order a reviewer must see them (provider time).
ORDERED_TEXTS = [
    "Can we confirm your identity?", "Your order is confirmed",
    "Please sell 100 shares of ACME at market.", "Order executed at 12.31",
    "Statement attached", "Q3 statement", "Signed form", "As I said before", "Good night",
    "Good morning",
]


def _noisy_png(width: int, height: int) -> bytes:
    # Random pixels do not compress, so the file is larger than one base64 chunk.
    rng = random.Random(7)
    image = Image.frombytes("RGB", (width, height), bytes(rng.randrange(256)
                                                          for _ in range(width * height * 3)))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@dataclass
class Bundle:
    conversation: Conversation
    ctx: TranscriptContext
    png: bytes
    files: dict[str, bytes]


def _bundle(*, with_audio: bool = True) -> Bundle:
    png = _noisy_png(160, 120)
    ogg = b"OggS" + bytes(2044)
    broken = b"\x89PNG\r\n\x1a\n" + b"this is not really a PNG" * 10
    sha = {name: hashlib.sha256(data).hexdigest() for name, data in
           (("png", png), ("ogg", ogg), ("broken", broken))}
    recs = scenario_records(sha["png"], len(png), sha["ogg"])
    recs.append(record(replace(parsed("image"), message_id="wamid.IMG2", timestamp=at(16, 32),
                               content={"caption": "Damaged scan"}),
                       (MediaOutcome("1003383421387256", "stored", "media/x/2.png",
                                     sha["broken"], len(broken), "image/png", None),)))
    conversation = next(c for c in build_conversations(recs) if c.key == KEY)
    files = {f"media/{sha['png']}.png": png, f"media/{sha['broken']}.png": broken,
             f"media/{sha['ogg']}.ogg": ogg}
    exported = {
        sha["png"]: ExportedFile(f"media/{sha['png']}.png", None, "image/png", len(png),
                                 sha["png"]),
        sha["broken"]: ExportedFile(f"media/{sha['broken']}.png", "scan.png", "image/png",
                                    len(broken), sha["broken"]),
    }
    if with_audio:
        exported[sha["ogg"]] = ExportedFile(f"media/{sha['ogg']}.ogg", None, "audio/ogg",
                                            len(ogg), sha["ogg"])

    def open_file(file: ExportedFile) -> BinaryIO:
        return io.BytesIO(files[file.bundle_path])

    ctx = TranscriptContext(export_id=EXPORT_ID, tz=NEW_YORK,
                            period_label="2024-05-31 to 2024-06-01", files=exported,
                            open_file=open_file, created_at=CREATED)
    return Bundle(conversation, ctx, png, files)


@pytest.fixture(scope="module")
def bundle() -> Bundle:
    return _bundle()


@pytest.fixture(scope="module")
def html(bundle: Bundle) -> str:
    out = io.BytesIO()
    write_html(bundle.conversation, out, bundle.ctx)
    return out.getvalue().decode("utf-8")


@pytest.fixture(scope="module")
def pdf_bytes(bundle: Bundle) -> bytes:
    out = io.BytesIO()
    write_pdf(bundle.conversation, out, bundle.ctx, font_dir=FONT_DIR)
    return out.getvalue()


@pytest.fixture(scope="module")
def pdf_pages(pdf_bytes: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf_bytes)).pages]


def _in_order(text: str, needles: list[str]) -> None:
    positions = [text.find(n) for n in needles]
    assert -1 not in positions, [n for n, p in zip(needles, positions, strict=True) if p < 0]
    assert positions == sorted(positions)


# -- shared view -----------------------------------------------------------------------

def test_local_time_shows_the_offset() -> None:
    assert local_time(datetime(2026, 3, 4, 14, 5, 9, tzinfo=UTC), UTC) == \
        "2026-03-04 14:05:09 +00:00"
    assert local_time(at(16, 8, 37), NEW_YORK) == "2024-05-31 12:08:37 -04:00"


# -- HTML ------------------------------------------------------------------------------

def test_html_is_self_contained_with_a_header(html: str) -> None:
    assert html.startswith("<!DOCTYPE html>")
    assert "<script" not in html and "<link" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "default-src 'none'" in html  # CSP: no script, no remote resource
    for text in (EXPORT_ID, KEY, "2024-05-31 to 2024-06-01", "America/New_York"):
        assert text in html


def test_html_escapes_hostile_text(html: str) -> None:
    assert HOSTILE not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in html


def test_html_messages_in_provider_order_with_local_times(html: str) -> None:
    _in_order(html, ORDERED_TEXTS)
    _in_order(html, ["2024-05-31 12:05:00 -04:00", "2024-05-31 12:08:30 -04:00",
                     "2024-05-31 22:00:00 -04:00", "2024-06-01 01:00:00 -04:00"])
    assert "From: <span dir=\"auto\">15550783881 [firm]</span>" in html


def test_html_rtl_text_is_marked_dir_auto(html: str) -> None:
    assert f'<div class="text" dir="auto">{RTL_TEXT}</div>' in html
    assert "Kerry كيري קרי Керри (16315551181)" in html


def test_html_shows_status_timeline_and_failure(html: str) -> None:
    _in_order(html, ["sent</span>: <span dir=\"auto\">2024-05-31 12:08:37 -04:00",
                     "delivered</span>: <span dir=\"auto\">2024-05-31 12:08:40 -04:00",
                     "read</span>: <span dir=\"auto\">2024-05-31 12:08:50 -04:00"])
    assert "read (2024-05-31 12:08:50 -04:00)" in html  # never regresses to delivered
    assert "error 131026 Message undeliverable" in html


def test_html_reply_reaction_edit_delete(html: str) -> None:
    assert "Reply to: <span dir=\"auto\">Please sell 100 shares of ACME at market. (sent " \
        "2024-05-31 12:08:37 -04:00)" in html
    assert "message not in this export: wamid.GONE" in html
    assert "👍 by Kerry" in html and "reaction removed" in html
    _in_order(html, ["version 1, original", "Please sell 50 shares"])
    assert "deleted (revoked) by its sender at 2024-05-31 12:12:30 -04:00" in html
    assert "deleted by the customer at 2024-05-31 12:52:00 -04:00" in html
    assert "conflicting" in html or "second, different version" in html


def test_html_inlines_images_as_data_uri(bundle: Bundle, html: str) -> None:
    match = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert match is not None
    assert base64.b64decode(match.group(1)) == bundle.png  # streamed in chunks, intact
    assert len(bundle.png) > 3 * 16 * 1024


def test_html_links_other_media_and_states_gaps(bundle: Bundle, html: str) -> None:
    ogg_sha = hashlib.sha256(b"OggS" + bytes(2044)).hexdigest()
    assert f'href="../media/{ogg_sha}.ogg"' in html
    assert f"audio/ogg, 2,048 bytes (2.0 KiB), SHA-256 {ogg_sha}" in html
    assert "document unavailable: media download failed: HTTP 404 after 5 attempts" in html


def test_html_media_not_in_the_bundle_is_a_gap() -> None:
    partial = _bundle(with_audio=False)
    out = io.BytesIO()
    write_html(partial.conversation, out, partial.ctx)
    assert "audio unavailable (stored): stored in the archive but not included in this " \
        "export" in out.getvalue().decode()


def test_html_shows_system_unknown_orphans_and_calls(html: str) -> None:
    assert "System event (system)" in html
    assert "Kerry changed their phone number" in html
    assert "Unknown event (unknown:hologram)" in html
    assert "&quot;beam&quot;:&quot;x&quot;" in html  # the fragment, compact and escaped
    assert "Status update for a message not in this export" in html
    assert "wamid.MISSING" in html
    assert "business initiated" in html and "5 min 10 s (310 seconds)" in html
    assert "outcome</span>: <span dir=\"auto\">completed" in html
    _in_order(html, [">connect<", ">ringing<", ">accepted<", ">terminate<"])
    assert "start / end</span>: <span dir=\"auto\">2024-05-31 13:00:00 -04:00 / " \
        "2024-05-31 13:05:10 -04:00" in html


def test_html_print_css_repeats_export_and_conversation(html: str) -> None:
    assert "@media print" in html and "position:fixed" in html
    assert '<div class="running top">Export ' + EXPORT_ID in html
    assert '<div class="running bottom">Export ' + EXPORT_ID in html
    assert "Browsers cannot print page numbers" in html  # the limitation, stated


def test_html_is_deterministic(bundle: Bundle, html: str) -> None:
    again = io.BytesIO()
    write_html(bundle.conversation, again, bundle.ctx)
    assert again.getvalue().decode() == html


# -- PDF -------------------------------------------------------------------------------

def test_pdf_has_every_message_in_order_with_local_times(pdf_pages: list[str]) -> None:
    text = "\n".join(pdf_pages)
    _in_order(text, ORDERED_TEXTS)
    _in_order(text, ["2024-05-31 12:05:00 -04:00", "2024-05-31 12:08:30 -04:00",
                     "2024-05-31 12:13:20 -04:00", "2024-05-31 13:00:00 -04:00",
                     "2024-05-31 22:00:00 -04:00", "2024-06-01 01:00:00 -04:00"])
    assert HOSTILE in text  # written as text, nothing to escape in a PDF


def test_pdf_header_and_footer_on_every_page(pdf_pages: list[str]) -> None:
    total = len(pdf_pages)
    assert total >= 2
    for number, page in enumerate(pdf_pages, start=1):
        assert page.count(EXPORT_ID) >= 2, number  # header and footer
        assert KEY in page
        assert re.search(rf"page {number} of {total}\b", page), page[-200:]


def test_pdf_renders_non_latin_and_rtl_text(pdf_pages: list[str]) -> None:
    text = "\n".join(pdf_pages)
    for word in ("Здравствуйте", "שלום", "למכור", "مرحبا", "الأسهم", "Керри", "كيري"):
        assert word in text, word
    assert ":thumbs up sign:" in text  # no emoji glyph in DejaVu: its name instead


def test_pdf_timeline_media_and_marks(pdf_pages: list[str]) -> None:
    text = " ".join(" ".join(pdf_pages).split())
    for needle in ("error 131026 Message undeliverable", "latest: read",
                   "message not in this export: wamid.GONE", "reaction removed",
                   "version 2, edited", "deleted by the customer",
                   "media download failed: HTTP 404 after 5 attempts",
                   "Unknown event (unknown:hologram)", "System event (system)",
                   "Status update for a message not in this export",
                   "duration: 5 min 10 s", "outcome: completed", "audio/ogg"):
        assert needle in text, needle


def test_pdf_embeds_images_and_survives_a_corrupt_one(pdf_bytes: bytes,
                                                      pdf_pages: list[str]) -> None:
    reader = PdfReader(io.BytesIO(pdf_bytes))
    images = [image for page in reader.pages for image in page.images]
    assert len(images) == 1
    assert images[0].image is not None and images[0].image.size == (160, 120)
    text = " ".join(" ".join(pdf_pages).split())
    assert "image could not be embedded" in text and "Damaged scan" in text


def test_pdf_is_deterministic_and_dated_from_the_context(bundle: Bundle,
                                                         pdf_bytes: bytes) -> None:
    again = io.BytesIO()
    write_pdf(bundle.conversation, again, bundle.ctx, font_dir=FONT_DIR)
    assert again.getvalue() == pdf_bytes
    metadata: Any = PdfReader(io.BytesIO(pdf_bytes)).metadata
    assert metadata["/CreationDate"].startswith("D:20240601120000")


def test_day_transcripts_render_each_local_day(bundle: Bundle) -> None:
    days = split_by_day(bundle.conversation, NEW_YORK)
    out = io.BytesIO()
    day, conversation = days[-1]
    write_pdf(conversation, out, replace(bundle.ctx, period_label=day.isoformat()),
              font_dir=FONT_DIR)
    (page,) = [p.extract_text() for p in PdfReader(io.BytesIO(out.getvalue())).pages]
    assert "Good morning" in page and "Good night" not in page and "2024-06-01" in page


def test_malformed_records_still_render(bundle: Bundle) -> None:
    (conversation,) = build_conversations([
        ("a.json", {"event": "message", "content": "not an object", "media": [1]}),
        ("b.json", {"event": "status", "status": {"errors": ["x"]}, "message_id": "m"}),
    ])
    out = io.BytesIO()
    write_html(conversation, out, bundle.ctx)
    write_pdf(conversation, io.BytesIO(), bundle.ctx, font_dir=FONT_DIR)
    assert "Status update for a message not in this export" in out.getvalue().decode()


def test_reply_to_a_message_in_another_day_file(bundle: Bundle) -> None:
    days = split_by_day(bundle.conversation, NEW_YORK)
    quoting = next(e for _, c in days for e in c.entries if e.message_id == "wamid.Q1")
    quoting.quoted_id = "wamid.LATE1"  # a message of the same day: found in this file
    day, conversation = days[0]
    recs = [record(parsed("text"))]
    other = build_conversations(recs)[0]
    other.entries[0].quoted_id = "wamid.NEXT1"  # lies in the 1 June file only
    ctx = replace(bundle.ctx, messages=message_index(c for _, c in days))
    out = io.BytesIO()
    write_html(other, out, ctx)
    assert "Good morning (sent 2024-06-01 01:00:00 -04:00, in another transcript" in \
        out.getvalue().decode()
    assert day.isoformat() == "2024-05-31" and conversation.entries
