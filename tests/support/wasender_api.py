"""A local stand-in for the WASender API's media endpoints (tests point WASENDER_API_URL at it).

POST /api/decrypt-media             -> {"publicUrl": "<this server>/api/decrypted-media/<token>"}
                                       (Bearer API_KEY required, like the real session API)
GET  /api/decrypted-media/<token>   -> the decrypted bytes (no auth, as WASender documents)

Media is registered per WhatsApp message id (the request's ``data.messages.key.id``); the
fixtures' media is registered from :data:`FIXTURE_MEDIA`, whose bytes match the fixtures'
``fileSha256`` (base64 of the plaintext SHA-256) and ``fileLength``. Every decrypt call
mints a new token, so a test can tell a re-resolved URL from a reused one.

Switchable failures, so retries are tested: ``fail_decrypts`` (the next N decrypt calls
answer 500), ``expire_downloads`` (the next N downloads answer 404, an expired URL), and
``public_host`` (the host the publicUrl names, e.g. one not on the allowlist). Counters:
``decrypts``, ``downloads``, ``unauthorized``; every request is recorded with its
Authorization header (``requests``), so a test can prove where the key went.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote

from tests.support.pipeline_env import WASENDER_API_KEY, WASENDER_SECRET

# The app's test settings (tests.support.pipeline_env) are the one source of these.
API_KEY = WASENDER_API_KEY
WEBHOOK_SECRET = WASENDER_SECRET
MEDIA_KEYS = ("imageMessage", "videoMessage", "audioMessage", "documentMessage",
              "stickerMessage")
_MAX_REQUEST = 1024 * 1024


def media_bytes(seed: str, magic: bytes, size: int) -> bytes:
    """Deterministic file bytes: a real format's magic number, then a hash chain."""
    out = bytearray(magic)
    block = hashlib.sha256(seed.encode()).digest()
    while len(out) < size:
        out += block
        block = hashlib.sha256(block).digest()
    return bytes(out[:size])


def whatsapp_sha256(data: bytes) -> str:
    """WhatsApp's ``fileSha256``: base64 of the plaintext's SHA-256."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


# Message id -> (plaintext, mime type) for every media fixture in tests/fixtures/wasender.
FIXTURE_MEDIA: dict[str, tuple[bytes, str]] = {
    "3EB0A1F2C3D4E5F60718": (media_bytes("image", b"\xff\xd8\xff\xe0\x00\x10JFIF", 48_213),
                             "image/jpeg"),
    "3EB0B2C3D4E5F6071829": (media_bytes("video", b"\x00\x00\x00\x18ftypmp42", 210_777),
                             "video/mp4"),
    "3EB0C3D4E5F607182930": (media_bytes("document", b"%PDF-1.7\n", 91_002),
                             "application/pdf"),
    "3EB0D4E5F60718293041": (media_bytes("voice", b"OggS\x00\x02", 12_345),
                             "audio/ogg; codecs=opus"),
    "3EB0E5F6071829304152": (media_bytes("sticker", b"RIFF\x10\x27\x00\x00WEBPVP8 ", 10_000),
                             "image/webp"),
}


@dataclass
class WaMedia:
    data: bytes
    mime_type: str
    decrypts: int = 0
    downloads: int = 0

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


class WasenderApi:
    def __init__(self, host: str = "127.0.0.1", *, api_key: str = API_KEY) -> None:
        self.api_key = api_key
        self.media: dict[str, WaMedia] = {}
        self.tokens: dict[str, str] = {}  # publicUrl token -> message id
        self.fail_decrypts = 0
        self.expire_downloads = 0
        self.public_host: str | None = None
        self.decrypts = 0
        self.downloads = 0
        self.unauthorized = 0
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, Authorization)
        self.public_urls: list[str] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                server._record(self, "POST")
                server._decrypt(self)

            def do_GET(self) -> None:
                server._record(self, "GET")
                server._download(self)

        self._httpd = ThreadingHTTPServer((host, 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        return str(self._httpd.server_address[0])

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """What WASENDER_API_URL is set to (the real one is https://www.wasenderapi.com/api)."""
        return f"http://{self.host}:{self.port}/api"

    def add(self, message_id: str, media: WaMedia) -> WaMedia:
        self.media[message_id] = media
        return media

    def add_fixture_media(self) -> None:
        for message_id, (data, mime) in FIXTURE_MEDIA.items():
            self.add(message_id, WaMedia(data, mime))

    def start(self) -> WasenderApi:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _record(self, h: BaseHTTPRequestHandler, method: str) -> None:
        with self._lock:
            self.requests.append((method, h.path, h.headers.get("Authorization")))

    def _send(self, h: BaseHTTPRequestHandler, status: int, body: bytes, ctype: str) -> None:
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def _json(self, h: BaseHTTPRequestHandler, status: int, doc: dict[str, Any]) -> None:
        self._send(h, status, json.dumps(doc).encode(), "application/json")

    def _decrypt(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(min(length, _MAX_REQUEST))
        if h.path.split("?", 1)[0] != "/api/decrypt-media":
            self._json(h, 404, {"success": False, "message": "not found"})
            return
        if h.headers.get("Authorization") != f"Bearer {self.api_key}":
            with self._lock:
                self.unauthorized += 1
            self._json(h, 401, {"success": False, "message": "Unauthenticated."})
            return
        with self._lock:
            self.decrypts += 1
            failing = self.fail_decrypts > 0
            self.fail_decrypts -= 1 if failing else 0
        if failing:
            self._json(h, 500, {"success": False, "message": "scripted failure"})
            return
        message_id, problem = _requested(body)
        media = self.media.get(message_id or "")
        if problem or media is None:
            self._json(h, 422, {"success": False, "message": problem or "unknown media"})
            return
        with self._lock:
            media.decrypts += 1
            token = f"{quote(message_id or '', safe='')}-{self.decrypts}"
            self.tokens[token] = message_id or ""
            url = (f"http://{self.public_host or self.host}:{self.port}"
                   f"/api/decrypted-media/{token}")
            self.public_urls.append(url)
        self._json(h, 200, {"publicUrl": url})

    def _download(self, h: BaseHTTPRequestHandler) -> None:
        path = h.path.split("?", 1)[0]
        prefix = "/api/decrypted-media/"
        token = path[len(prefix):] if path.startswith(prefix) else ""
        with self._lock:
            message_id = self.tokens.get(token)
            media = self.media.get(message_id) if message_id is not None else None
            expired = self.expire_downloads > 0
            self.expire_downloads -= 1 if expired else 0
            self.downloads += 1
            if media is not None:
                media.downloads += 1
        if media is None or expired:
            self._json(h, 404, {"success": False, "message": "expired or unknown"})
            return
        self._send(h, 200, media.data, media.mime_type)


def _requested(body: bytes) -> tuple[str | None, str | None]:
    """The message id a decrypt request names, or a problem as the real API would 422 it."""
    try:
        doc = json.loads(body)
        messages = doc["data"]["messages"]
        message_id = str(messages["key"]["id"])
        message = messages["message"]
    except (ValueError, KeyError, TypeError):
        return None, "data.messages.key.id and data.messages.message are required"
    found = [key for key in MEDIA_KEYS if isinstance(message.get(key), dict)]
    if len(found) != 1:
        return None, "message must hold one image, video, audio, document or sticker"
    media = message[found[0]]
    if not media.get("mediaKey") or not (media.get("url") or media.get("directPath")):
        return None, "mediaKey and url are required"
    return message_id, None
