"""A local stand-in for the Graph API media endpoints (tests point WHATSAPP_GRAPH_URL at it).

GET /<media-id>           -> {"url": ..., "mime_type": ..., "sha256": ..., "file_size": ...}
GET /download/<media-id>  -> the bytes (bearer token required, like Meta's CDN)

Per media id the test chooses the behaviour: serve normally, fail the first N
lookups (expired URL), always 404, announce a wrong sha256, or omit
Content-Length (chunked) so the size cap must be enforced while streaming, or
script the first lookups (`script=(500, 404, "stall")`: an HTTP status each, or a
stall longer than the fetcher's socket timeout) before serving normally, or announce
another `file_size` (`announce_size`) or none (`omit_size`).

For the media-fetch hardening tests an item can also answer a lookup `url` of the
test's choosing, redirect its download (`redirect_to`, the first `redirects`
downloads), or trickle its bytes (`trickle_seconds` between 1 KiB pieces). Every
request is recorded with its Authorization header (`requests`), so a test can prove
the token never reached a host. A server may bind another loopback address
(`host="127.0.0.2"`) and serve without a token (`require_token=False`): the stand-in
for a host that is not on MEDIA_HOST_ALLOWLIST.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, unquote

TOKEN = "test-access-token"


@dataclass
class MediaItem:
    data: bytes
    mime_type: str = "image/jpeg"
    fail_first: int = 0  # lookups answered 404 before the item "appears"
    always_404: bool = False
    announce_sha256: str | None = None  # override the sha256 the lookup reports
    announce_size: int | None = None  # override the file_size the lookup reports
    omit_size: bool = False  # the lookup reports no file_size at all
    chunked: bool = False  # no Content-Length on the download
    script: tuple[int | str, ...] = ()  # answers to the first lookups: a status or "stall"
    url: str | None = None  # the lookup answers this download url instead of its own
    redirect_to: str | None = None  # the first `redirects` downloads answer 302 to it
    redirects: int = 1
    trickle_seconds: float = 0.0  # pause between 1 KiB pieces of the download
    lookups: int = 0
    downloads: int = 0
    redirected: int = 0

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


class MediaServer:
    def __init__(self, host: str = "127.0.0.1", *, require_token: bool = True) -> None:
        self.items: dict[str, MediaItem] = {}
        self.unauthorized = 0
        self.require_token = require_token
        self.requests: list[tuple[str, str | None]] = []  # (path, Authorization header)
        # Longer than storage.media_http.HTTP_TIMEOUT_SECONDS (30), so the fetcher times out.
        self.stall_seconds = 31.0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                server._handle(self)

        self._httpd = ThreadingHTTPServer((host, 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def download_url(self, media_id: str, host: str | None = None) -> str:
        return f"http://{host or self.host}:{self.port}/download/{quote(media_id, safe='')}"

    def add(self, media_id: str, item: MediaItem) -> MediaItem:
        self.items[media_id] = item
        return item

    def start(self) -> MediaServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _send(self, h: BaseHTTPRequestHandler, status: int, body: bytes, ctype: str) -> None:
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        self.requests.append((h.path, h.headers.get("Authorization")))
        if self.require_token and h.headers.get("Authorization") != f"Bearer {TOKEN}":
            self.unauthorized += 1
            self._send(h, 401, b'{"error":"unauthorized"}', "application/json")
            return
        path = unquote(h.path.split("?", 1)[0])
        if path.startswith("/download/"):
            self._download(h, path[len("/download/") :])
            return
        media_id = path.lstrip("/")
        item = self.items.get(media_id)
        if item is None:
            self._send(h, 404, b'{"error":"not found"}', "application/json")
            return
        item.lookups += 1
        if item.lookups <= len(item.script):
            self._scripted(h, item.script[item.lookups - 1])
            return
        if item.always_404 or item.lookups <= item.fail_first:
            self._send(h, 404, b'{"error":"expired"}', "application/json")
            return
        doc = {
            "url": item.url or self.download_url(media_id),
            "mime_type": item.mime_type,
            "sha256": item.announce_sha256 or item.sha256,
            "file_size": len(item.data) if item.announce_size is None else item.announce_size,
            "id": media_id,
        }
        if item.omit_size:
            del doc["file_size"]
        self._send(h, 200, json.dumps(doc).encode(), "application/json")

    def _scripted(self, h: BaseHTTPRequestHandler, answer: int | str) -> None:
        if answer == "stall":
            time.sleep(self.stall_seconds)
            h.close_connection = True
            return  # the client gave up long ago; answer nothing
        self._send(h, int(answer), b'{"error":"scripted"}', "application/json")

    def _download(self, h: BaseHTTPRequestHandler, media_id: str) -> None:
        item = self.items.get(media_id)
        if item is None:
            self._send(h, 404, b"", "application/octet-stream")
            return
        item.downloads += 1
        if item.redirect_to and item.redirected < item.redirects:
            item.redirected += 1
            h.send_response(302)
            h.send_header("Location", item.redirect_to)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        if item.trickle_seconds:
            self._trickle(h, item)
            return
        if not item.chunked:
            self._send(h, 200, item.data, item.mime_type)
            return
        h.send_response(200)
        h.send_header("Content-Type", item.mime_type)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        for start in range(0, len(item.data), 65536):
            chunk = item.data[start : start + 65536]
            h.wfile.write(f"{len(chunk):X}\r\n".encode() + chunk + b"\r\n")
        h.wfile.write(b"0\r\n\r\n")

    def _trickle(self, h: BaseHTTPRequestHandler, item: MediaItem) -> None:
        h.send_response(200)
        h.send_header("Content-Type", item.mime_type)
        h.send_header("Content-Length", str(len(item.data)))
        h.end_headers()
        try:
            for start in range(0, len(item.data), 1024):
                h.wfile.write(item.data[start : start + 1024])
                h.wfile.flush()
                time.sleep(item.trickle_seconds)
        except OSError:
            h.close_connection = True  # the fetcher gave up: expected
