"""One self-contained HTML transcript per conversation (inline CSS, no scripts, offline).

Message text is hostile input: every string goes through ``html.escape``, and a
Content-Security-Policy forbids scripts and remote resources, so even a missed escape
could not run code or call home. Images are inlined as ``data:`` URIs, base64-encoded
chunk by chunk straight into the output stream.

Printing: browsers do not implement ``@page`` margin boxes, so page numbers cannot be put
on printed pages from CSS. The print stylesheet repeats the export id and conversation in
a fixed header and footer on every page; the ``@page`` margin boxes with ``page N of M``
are there for paged-media engines that support them (WeasyPrint, Prince, Paged.js). The
PDF transcript is the paginated artefact.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from html import escape
from typing import BinaryIO

from archive.export.conversation import Conversation, Entry
from archive.export.transcript import (
    EntryView,
    Line,
    MediaView,
    TranscriptContext,
    clean,
    entry_views,
    header_lines,
)

# A multiple of 3, so each chunk encodes to base64 without padding in the middle.
_CHUNK = 3 * 16 * 1024

_CSS = """
body{font-family:"DejaVu Sans",system-ui,sans-serif;margin:2em auto;max-width:60em;
 color:#111;background:#fff;line-height:1.4}
header.doc{border-bottom:2px solid #333;margin-bottom:1em}
header.doc dl{display:grid;grid-template-columns:max-content 1fr;gap:.1em 1em;margin:.5em 0}
dt{font-weight:bold}dd{margin:0;overflow-wrap:anywhere}
.limit{font-size:.85em;color:#555}
article{border:1px solid #bbb;border-radius:4px;margin:.8em 0;padding:.5em .8em;
 break-inside:avoid-page}
article.outbound{background:#f2f8f2;margin-left:3em}
article.inbound{background:#f6f6fb;margin-right:3em}
article.kind-system,article.kind-unknown{background:#fff8e6;border-style:dashed}
article.orphan{background:#fdeeee;border-style:dashed}
article.kind-call{background:#eef6fb}
.head{font-size:.9em;color:#333}
.head time{font-weight:bold}.title{font-weight:bold;margin-left:.5em}
.parties{font-size:.9em;color:#333;overflow-wrap:anywhere}
.text{white-space:pre-wrap;overflow-wrap:anywhere;unicode-bidi:plaintext;margin:.4em 0;
 font-size:1.05em}
blockquote{border-left:3px solid #999;margin:.4em 0;padding:.1em .6em;color:#444}
.marked{color:#a00;font-weight:bold}
ul,ol{margin:.3em 0;padding-left:1.4em}
.sub{font-size:.9em;overflow-wrap:anywhere}
.label{font-weight:bold}
img{max-width:20em;max-height:20em;display:block;margin:.3em 0;border:1px solid #ccc}
.ids{font-size:.75em;color:#666;overflow-wrap:anywhere;font-family:monospace}
.running{display:none}
@page{size:A4;margin:18mm 12mm;
 @top-center{content:"%RUNNING%"}
 @bottom-center{content:"page " counter(page) " of " counter(pages)}}
@media print{
 body{margin:0;max-width:none}
 .running{display:block;position:fixed;left:0;right:0;font-size:8pt;color:#333;
  background:#fff}
 .running.top{top:0;border-bottom:1px solid #999}
 .running.bottom{bottom:0;border-top:1px solid #999}
 main{margin:2.5em 0}
 article{background:none!important}
}
"""
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"


def _esc(text: str) -> str:
    return escape(clean(text), quote=True)


class _Out:
    def __init__(self, out: BinaryIO) -> None:
        self.out = out

    def __call__(self, *parts: str) -> None:
        for part in parts:
            self.out.write(part.encode("utf-8"))


def _lines(w: _Out, css: str, lines: Iterable[Line], tag: str = "ul") -> None:
    items = list(lines)
    if not items:
        return
    w(f'<{tag} class="{css} sub">')
    for line in items:
        cls = ' class="marked"' if line.marked else ""
        w(f'<li{cls}><span class="label">{_esc(line.label)}</span>: '
          f'<span dir="auto">{_esc(line.text)}</span></li>')
    w(f"</{tag}>")


def _image(w: _Out, media: MediaView, ctx: TranscriptContext) -> None:
    exported = media.file
    if exported is None:
        return
    mime = (exported.mime_type or "image/jpeg").split(";", 1)[0].strip().lower()
    w(f'<img alt="{_esc(exported.original_name or media.kind)}" src="data:{_esc(mime)};base64,')
    carry = b""
    with ctx.open_file(exported) as stream:
        while True:
            chunk = stream.read(_CHUNK)
            if not chunk:
                break
            data = carry + chunk
            cut = len(data) - len(data) % 3
            w(base64.b64encode(data[:cut]).decode("ascii"))
            carry = data[cut:]
    w(base64.b64encode(carry).decode("ascii"), '">')


def _media(w: _Out, views: Iterable[MediaView], ctx: TranscriptContext) -> None:
    for media in views:
        if not media.available:
            w(f'<p class="marked sub">{_esc(media.description)}</p>')
            continue
        w('<div class="sub">')
        if media.inline_image:
            _image(w, media, ctx)
        w(f'<a href="{_esc(media.href or "")}">{_esc(media.description)}</a></div>')


def _entry(w: _Out, view: EntryView, ctx: TranscriptContext, entry: Entry) -> None:
    classes = f"{view.direction} kind-{entry.kind}" + (" orphan" if entry.is_orphan else "")
    w(f'<article id="{view.anchor}" class="{_esc(classes)}">',
      f'<div class="head"><time>{_esc(view.when)}</time>'
      f'<span class="title">{_esc(view.title)}</span> ({_esc(view.direction)})</div>',
      f'<div class="parties">From: <span dir="auto">{_esc(view.sender)}</span>'
      f' &rarr; To: <span dir="auto">{_esc(view.recipients)}</span></div>')
    _lines(w, "notes", view.notes)
    if view.quote is not None:
        w(f'<blockquote>Reply to: <span dir="auto">{_esc(view.quote)}</span></blockquote>')
    if view.text is not None:
        w(f'<div class="text" dir="auto">{_esc(view.text)}</div>')
    _lines(w, "details", view.details)
    _lines(w, "edits", view.edits, "ol")
    _media(w, view.media, ctx)
    _lines(w, "timeline", view.timeline)
    _lines(w, "reactions", view.reactions)
    w(f'<div class="ids">message id {_esc(view.message_id)} &middot; record '
      f'{_esc(view.record_path)}</div></article>\n')


def write_html(conversation: Conversation, out: BinaryIO, ctx: TranscriptContext) -> None:
    """Write the transcript of ``conversation`` to ``out`` (UTF-8 HTML)."""
    w = _Out(out)
    running = f"Export {ctx.export_id} \u00b7 Conversation {conversation.key}"
    w("<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n",
      f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n',
      '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
      f"<title>{_esc(running)}</title>\n",
      f"<style>{_CSS.replace('%RUNNING%', _css_string(running))}</style>\n",
      "</head>\n<body>\n",
      f'<div class="running top">{_esc(running)} \u00b7 {_esc(ctx.period_label)}</div>\n',
      f'<div class="running bottom">{_esc(running)} \u00b7 printed page numbers: see the '
      "browser's print header/footer; the PDF transcript is the paginated copy</div>\n",
      '<header class="doc"><h1>WhatsApp conversation transcript</h1><dl>')
    for line in header_lines(conversation, ctx):
        w(f'<dt>{_esc(line.label)}</dt><dd dir="auto">{_esc(line.text)}</dd>')
    w("</dl>",
      '<p class="limit">Browsers cannot print page numbers from a web page; when printed, '
      "every page repeats the export id and conversation in its header and footer. The PDF "
      "transcript of this export is the paginated artefact.</p></header>\n<main>\n")
    for view, entry in zip(entry_views(conversation, ctx), conversation.entries, strict=True):
        _entry(w, view, ctx, entry)
    if not conversation.entries:
        w("<p>No entries in this period.</p>")
    w("</main>\n</body>\n</html>\n")


def _css_string(text: str) -> str:
    # The running head sits inside a CSS string: no quotes, backslashes or angle brackets.
    return "".join(ch for ch in clean(text) if ch not in "\"\\<>\n")
