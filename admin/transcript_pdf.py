"""The paginated transcript (PDF, fpdf2): the artefact a regulator prints and cites by page.

Every page carries the export id and conversation in its header, and ``page N of M`` with
the export id in its footer. Text that needs it (right-to-left letters, combining marks) is
shaped with HarfBuzz (``set_text_shaping``), so Arabic and Hebrew join and run right to
left; other lines skip shaping, which costs fpdf2 a HarfBuzz call per width measurement.
DejaVu Sans covers Latin, Greek, Cyrillic, Arabic and Hebrew. A character the font lacks
(most emoji) is written as its Unicode name, e.g. ``:thumbs up sign:``, instead of an
empty box: a reviewer must see that *something* was sent. The fonts are read from
``font_dir``, which the caller locates.

Output is deterministic: the creation date comes from the context, never the clock, and
fpdf2 derives the file id from the content.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import BinaryIO

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.image_parsing import preload_image

from archive.export.conversation import Conversation
from archive.export.transcript import (
    MAX_INLINE_IMAGE_BYTES,
    EntryView,
    Line,
    MediaView,
    TranscriptContext,
    clean,
    entry_views,
    header_lines,
)

FONT_REGULAR = "DejaVuSans.ttf"
FONT_BOLD = "DejaVuSans-Bold.ttf"
_FAMILY = "dejavu"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LINE = 4.6  # mm per line at 9 pt
_MAX_IMAGE_W = 80.0  # mm: images are evidence, not decoration
_MAX_IMAGE_H = 90.0
_PX_TO_MM = 25.4 / 96
_RED = (160, 0, 0)
_GREY = (90, 90, 90)
_BLACK = (0, 0, 0)
# Joiners and variation selectors only steer how a neighbour is drawn; without the emoji
# font they would be names of their own and make ":...:" noise.
_SILENT = frozenset({0x200D, 0xFE0E, 0xFE0F})
# File signatures of what is embedded; anything else (SVG above all) is only linked.
_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a")


class _Glyphs:
    """Replaces what the fonts cannot draw with the character's Unicode name."""

    def __init__(self, pdf: FPDF) -> None:
        covered: set[int] | None = None
        for font in pdf.fonts.values():
            cmap = set(getattr(font, "ttfont").getBestCmap())  # noqa: B009 - untyped in fpdf
            covered = cmap if covered is None else covered & cmap
        self.covered = frozenset(covered or ())

    def fit(self, text: str) -> str:
        out = []
        for ch in clean(text).replace("\t", "    "):
            code = ord(ch)
            if ch == "\n" or code in self.covered:
                out.append(ch)
            elif code not in _SILENT:
                name = unicodedata.name(ch, f"U+{code:04X}").lower()
                out.append(f":{name}:")
        return "".join(out)


def _rtl(text: str) -> bool:
    """Right-to-left paragraph: its first strong character is Hebrew or Arabic."""
    for ch in text:
        kind = unicodedata.bidirectional(ch)
        if kind in ("R", "AL"):
            return True
        if kind == "L":
            return False
    return False


def _complex(text: str) -> bool:
    """Does the text need shaping: right-to-left letters or combining marks?

    Shaping every line costs fpdf2 a HarfBuzz call per width measurement (~20 ms per
    message); Latin, Greek and Cyrillic lay out the same without it.
    """
    return any(
        ord(ch) >= 0x300 and (unicodedata.bidirectional(ch) in ("R", "AL", "AN", "NSM")
                              or unicodedata.category(ch) in ("Mn", "Mc", "Me"))
        for ch in text
    )


class _Document(FPDF):
    def __init__(self, running: str, period: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.running = running
        self.period = period
        self.glyphs: _Glyphs | None = None
        self.shaping = False

    def fit(self, text: str) -> str:
        """The text as it will be written: drawable glyphs, shaping switched on if needed."""
        fitted = self.glyphs.fit(text) if self.glyphs else text
        needed = _complex(fitted)
        if needed != self.shaping:
            self.set_text_shaping(needed)
            self.shaping = needed
        return fitted

    def _restore_shaping(self, shaping: bool) -> None:
        # A page break can fall inside a shaped paragraph; the running head must not
        # switch shaping off under the rest of it.
        if self.shaping != shaping:
            self.set_text_shaping(shaping)
            self.shaping = shaping

    def header(self) -> None:
        shaping = self.shaping
        self._header()
        self._restore_shaping(shaping)

    def footer(self) -> None:
        shaping = self.shaping
        self._footer()
        self._restore_shaping(shaping)

    def _header(self) -> None:
        self.set_font(_FAMILY, "", 7.5)
        self.set_text_color(*_GREY)
        self.multi_cell(0, 3.6, self.fit(f"{self.running} \u00b7 {self.period}"),
                        new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.line(self.l_margin, self.get_y() + 0.5, self.w - self.r_margin, self.get_y() + 0.5)
        self.ln(3)

    def _footer(self) -> None:
        self.set_y(-13)
        self.set_font(_FAMILY, "", 7.5)
        self.set_text_color(*_GREY)
        self.line(self.l_margin, self.get_y() - 0.5, self.w - self.r_margin, self.get_y() - 0.5)
        self.multi_cell(0, 3.6, self.fit(f"page {self.page_no()} of {{nb}} \u00b7 "
                                         f"{self.running}"),
                        align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    # -- text helpers ------------------------------------------------------------------

    def para(self, text: str, *, size: float = 9, style: str = "",
             color: tuple[int, int, int] = _BLACK, indent: float = 0) -> None:
        fitted = self.fit(text)
        self.set_font(_FAMILY, style, size)
        self.set_text_color(*color)
        self.set_x(self.l_margin + indent)
        width = self.epw - indent
        align = "R" if _rtl(text) else "L"
        # fpdf2's line breaker is quadratic in the line length: a line that fits is a cell.
        if "\n" not in fitted and self.get_string_width(fitted) <= width:
            self.cell(width, size * 0.5, fitted, align=align,
                      new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            return
        self.multi_cell(width, size * 0.5, fitted, align=align,
                        new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def labeled(self, line: Line, *, indent: float = 4) -> None:
        # write() flows from the left margin, so move the margin for a hanging indent.
        base = self.l_margin
        self.set_left_margin(base + indent)
        self.set_x(base + indent)
        self.set_text_color(*(_RED if line.marked else _BLACK))
        label, text = self.fit(f"{line.label}: "), self.fit(line.text)
        self.fit(label + text)  # one shaping mode for the whole line
        self.set_font(_FAMILY, "B", 8.5)
        label_width = self.get_string_width(label)
        self.set_font(_FAMILY, "", 8.5)
        text_width = self.get_string_width(text)
        rest = self.epw - indent - label_width
        if "\n" not in text and text_width <= rest:
            self.set_font(_FAMILY, "B", 8.5)
            self.cell(label_width, _LINE, label)
            self.set_font(_FAMILY, "", 8.5)
            self.cell(rest, _LINE, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        else:
            self.set_font(_FAMILY, "B", 8.5)
            self.write(_LINE, label)
            self.set_font(_FAMILY, "", 8.5)
            self.write(_LINE, text)
            self.ln(_LINE)
        self.set_left_margin(base)
        self.set_x(base)

    def section(self, title: str, lines: tuple[Line, ...]) -> None:
        if not lines:
            return
        self.para(title, size=8, style="B", color=_GREY, indent=2)
        for line in lines:
            self.labeled(line)


def _embed(pdf: _Document, media: MediaView, ctx: TranscriptContext) -> str | None:
    """Embed an image below the current line; on failure say why (never raise)."""
    exported = media.file
    if exported is None:
        return None
    try:
        with ctx.open_file(exported) as stream:
            data = stream.read(MAX_INLINE_IMAGE_BYTES + 1)
        if len(data) > MAX_INLINE_IMAGE_BYTES:
            return "image too large to embed; see the linked file"
        if not (data.startswith(_IMAGE_MAGIC) or data[8:12] == b"WEBP"):
            return "not a JPEG/PNG/GIF/WebP image; see the linked file"
        _, _, info = preload_image(pdf.image_cache, data)
        width_px, height_px = float(info["w"]), float(info["h"])  # type: ignore[arg-type]
        if width_px <= 0 or height_px <= 0:
            return "image has no size; see the linked file"
        w = min(_MAX_IMAGE_W, width_px * _PX_TO_MM)
        h = w * height_px / width_px
        if h > _MAX_IMAGE_H:
            h = _MAX_IMAGE_H
            w = h * width_px / height_px
        if pdf.get_y() + h > pdf.page_break_trigger:
            pdf.add_page()
        pdf.image(data, x=pdf.l_margin + 4, y=pdf.get_y(), w=w, h=h)
        pdf.set_y(pdf.get_y() + h + 1)
    except Exception as exc:  # a corrupt image must not stop the production
        return f"image could not be embedded ({type(exc).__name__}); see the linked file"
    return None


def _media(pdf: _Document, views: tuple[MediaView, ...], ctx: TranscriptContext) -> None:
    for media in views:
        if not media.available:
            pdf.labeled(Line("media", media.description, True))
            continue
        problem = _embed(pdf, media, ctx) if media.inline_image else None
        pdf.set_left_margin(pdf.l_margin + 4)
        pdf.set_font(_FAMILY, "", 8.5)
        pdf.set_text_color(0, 0, 160)
        pdf.write(_LINE, pdf.fit(f"{media.description} (file {media.href})"),
                  link=media.href or "")
        pdf.ln(_LINE)
        pdf.set_left_margin(pdf.l_margin - 4)
        if problem:
            pdf.labeled(Line("image", problem, True))


def _entry(pdf: _Document, view: EntryView, ctx: TranscriptContext) -> None:
    if pdf.get_y() > pdf.page_break_trigger - 25:
        pdf.add_page()
    pdf.para(f"{view.when} \u2014 {view.title} ({view.direction})", size=9.5, style="B")
    pdf.para(f"From: {view.sender} \u2192 To: {view.recipients}", size=8.5, color=_GREY)
    for note in view.notes:
        pdf.labeled(note)
    if view.quote is not None:
        pdf.para(f"Reply to: {view.quote}", size=8.5, color=_GREY, indent=4)
    if view.text is not None:
        pdf.para(view.text, size=10, indent=2)
    for line in view.details:
        pdf.labeled(line)
    pdf.section("Versions", view.edits)
    _media(pdf, view.media, ctx)
    pdf.section("Timeline", view.timeline)
    pdf.section("Reactions", view.reactions)
    pdf.para(f"message id {view.message_id} \u00b7 record {view.record_path}", size=6.5,
             color=_GREY)
    pdf.set_draw_color(200, 200, 200)
    pdf.line(pdf.l_margin, pdf.get_y() + 1, pdf.w - pdf.r_margin, pdf.get_y() + 1)
    pdf.set_draw_color(0, 0, 0)
    pdf.ln(3)


def write_pdf(conversation: Conversation, out: BinaryIO, ctx: TranscriptContext, *,
              font_dir: str) -> None:
    """Write the paginated transcript of ``conversation`` to ``out``.

    ``font_dir`` holds DejaVuSans.ttf and DejaVuSans-Bold.ttf (e.g. matplotlib's
    ``get_data_path() + "/fonts/ttf"``).
    """
    running = f"Export {ctx.export_id} \u00b7 Conversation {conversation.key}"
    pdf = _Document(running, ctx.period_label)
    pdf.set_creation_date(ctx.created_at or _EPOCH)
    base = font_dir.rstrip("/\\")
    pdf.add_font(_FAMILY, "", f"{base}/{FONT_REGULAR}")
    pdf.add_font(_FAMILY, "B", f"{base}/{FONT_BOLD}")
    pdf.glyphs = _Glyphs(pdf)
    pdf.alias_nb_pages()
    pdf.set_title(pdf.fit(f"WhatsApp transcript {conversation.key}"))
    pdf.set_subject(pdf.fit(f"Export {ctx.export_id}, {ctx.period_label}"))
    pdf.set_creator("wa-archive export")
    pdf.set_auto_page_break(True, margin=16)
    pdf.c_margin = 0  # text starts at the margin, as write() does
    pdf.add_page()
    pdf.para("WhatsApp conversation transcript", size=14, style="B")
    for line in header_lines(conversation, ctx):
        pdf.labeled(line, indent=0)
    pdf.ln(3)
    for view in entry_views(conversation, ctx):
        _entry(pdf, view, ctx)
    if not conversation.entries:
        pdf.para("No entries in this period.")
    out.write(bytes(pdf.output()))
