"""A local stand-in for Twilio's media: the REST API host and the media host it redirects to.

API host:   GET /2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}/Media/{MediaSid}
            needs HTTP basic auth (account SID, auth token) and answers a redirect
            (307 by default, 302 per item) to the media host. No body.
Media host: GET /media/{MediaSid}?Expires=...  serves the bytes, and REJECTS (400) any
            request that carries an Authorization header: credentials for the API
            must never reach it. It is a second server on another port (or, with
            `media_host="127.0.0.2"`, another loopback address: the stand-in for a host
            that is not on MEDIA_HOST_ALLOWLIST).

Per media item the test chooses: the bytes and Content-Type, the redirect status, a
redirect elsewhere (`redirect_to`; from the media host: `media_redirect_to`), failures
before the item "appears" (`api_fail_first` answered 404 by the API, `media_fail_first`
answered 503 by the media host), a chunked download (no Content-Length), or a
Content-Length that lies. Counters and a request log
(path, Authorization header) let a test prove where credentials went.
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, unquote

from tests.support.pipeline_env import TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN

_MEDIA_PATH = re.compile(
    r"\A/2010-04-01/Accounts/([A-Za-z0-9]+)/Messages/([A-Za-z0-9]+)/Media/([A-Za-z0-9]+)\Z"
)


@dataclass
class TwilioMedia:
    data: bytes
    content_type: str = "image/jpeg"
    redirect_status: int = 307
    redirect_to: str | None = None  # Location to answer instead of the media host's URL
    api_fail_first: int = 0  # API requests answered 404 before the media "appears"
    media_fail_first: int = 0  # media-host requests answered 503 first
    media_redirect_to: str | None = None  # the media host redirects (302) here instead
    chunked: bool = False  # no Content-Length on the download
    declared_length: int | None = None  # a Content-Length that differs from the bytes
    api_requests: int = 0
    media_requests: int = 0

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def basic_auth(account_sid: str, auth_token: str) -> str:
    return "Basic " + base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()


class _Server:
    def __init__(self, host: str, handle: Any) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                handle(self)

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = str(self.httpd.server_address[0]), int(self.httpd.server_address[1])
        return f"http://{host}:{port}"


class TwilioApi:
    def __init__(
        self,
        host: str = "127.0.0.1",
        media_host: str = "127.0.0.1",
        *,
        account_sid: str = TWILIO_ACCOUNT_SID,
        auth_token: str = TWILIO_AUTH_TOKEN,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.items: dict[str, TwilioMedia] = {}
        self.unauthorized = 0  # API requests without the right basic auth
        self.auth_at_media_host = 0  # media-host requests that carried an Authorization
        self.api_log: list[tuple[str, str | None]] = []  # (path, Authorization)
        self.media_log: list[tuple[str, str | None]] = []
        self._lock = threading.Lock()
        self._api = _Server(host, self._handle_api)
        self._media = _Server(media_host, self._handle_media)

    @property
    def base_url(self) -> str:
        """Where the API host listens: replaces https://api.twilio.com in MediaUrlN."""
        return self._api.base_url

    @property
    def media_base_url(self) -> str:
        return self._media.base_url

    def media_url(self, message_sid: str, media_sid: str, account_sid: str | None = None) -> str:
        account = account_sid or self.account_sid
        return (f"{self.base_url}/2010-04-01/Accounts/{account}/Messages/{message_sid}"
                f"/Media/{media_sid}")

    def add(self, media_sid: str, item: TwilioMedia) -> TwilioMedia:
        self.items[media_sid] = item
        return item

    def start(self) -> TwilioApi:
        self._api.thread.start()
        self._media.thread.start()
        return self

    def stop(self) -> None:
        for server in (self._api, self._media):
            server.httpd.shutdown()
            server.httpd.server_close()

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, body: bytes = b"",
              ctype: str = "application/json", headers: dict[str, str] | None = None) -> None:
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        for name, value in (headers or {}).items():
            h.send_header(name, value)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def _handle_api(self, h: BaseHTTPRequestHandler) -> None:
        auth = h.headers.get("Authorization")
        with self._lock:
            self.api_log.append((h.path, auth))
        if auth != basic_auth(self.account_sid, self.auth_token):
            with self._lock:
                self.unauthorized += 1
            self._send(h, 401, b'{"code":20003,"message":"Authenticate","status":401}')
            return
        match = _MEDIA_PATH.match(unquote(h.path.split("?", 1)[0]))
        item = self.items.get(match.group(3)) if match else None
        if match is None or match.group(1) != self.account_sid or item is None:
            self._send(h, 404, b'{"code":20404,"status":404}')
            return
        with self._lock:
            item.api_requests += 1
            failing = item.api_requests <= item.api_fail_first
        if failing:
            self._send(h, 404, b'{"code":20404,"status":404}')
            return
        location = item.redirect_to or (
            f"{self.media_base_url}/media/{quote(match.group(3), safe='')}?Expires=1717171800"
        )
        self._send(h, item.redirect_status, headers={"Location": location})

    def _handle_media(self, h: BaseHTTPRequestHandler) -> None:
        auth = h.headers.get("Authorization")
        with self._lock:
            self.media_log.append((h.path, auth))
        if auth is not None:
            # Twilio's media host takes no credentials; getting one means they leaked.
            with self._lock:
                self.auth_at_media_host += 1
            self._send(h, 400, b"credentials are not accepted here", "text/plain")
            return
        path = unquote(h.path.split("?", 1)[0])
        item = self.items.get(path.removeprefix("/media/")) if path.startswith("/media/") else None
        if item is None:
            self._send(h, 404, b"", "text/plain")
            return
        with self._lock:
            item.media_requests += 1
            failing = item.media_requests <= item.media_fail_first
        if failing:
            self._send(h, 503, b"", "text/plain")
            return
        if item.media_redirect_to is not None:
            self._send(h, 302, headers={"Location": item.media_redirect_to})
            return
        if item.chunked:
            self._chunked(h, item)
            return
        h.send_response(200)
        h.send_header("Content-Type", item.content_type)
        length = item.declared_length if item.declared_length is not None else len(item.data)
        h.send_header("Content-Length", str(length))
        h.end_headers()
        h.wfile.write(item.data[:length])
        if length != len(item.data):
            h.close_connection = True

    @staticmethod
    def _chunked(h: BaseHTTPRequestHandler, item: TwilioMedia) -> None:
        h.send_response(200)
        h.send_header("Content-Type", item.content_type)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        try:
            for start in range(0, len(item.data), 65536):
                chunk = item.data[start : start + 65536]
                h.wfile.write(f"{len(chunk):X}\r\n".encode() + chunk + b"\r\n")
            h.wfile.write(b"0\r\n\r\n")
        except OSError:
            h.close_connection = True  # the fetcher stopped reading (over the cap): expected
