"""Local stand-ins for Azure Communication Services and a Microsoft Entra ID token issuer.

`AcsStandIn` serves media the way the azure-communication-messages SDK downloads it:
``GET /messages/streams/{mediaId}?api-version=2024-08-30`` with ACS's HMAC-SHA256 key
authentication (``x-ms-date``, ``x-ms-content-sha256`` and
``Authorization: HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature=``
over ``GET\\n<path and query>\\n<date>;<host>;<content hash>``, keyed by the base64 access
key). Tests point ``ACS_ENDPOINT`` at `connection_string`. Per media id a test chooses
the behaviour: serve, fail the first N downloads (a status each), always answer a status,
send no Content-Length (chunked), or announce a Content-Length larger than the cap.

`EntraIssuer` is a tenant's signing side: RSA key pairs, a JWKS document at `keys_url`
(``ACS_WEBHOOK_KEYS_URL``) and `mint()` for tokens with chosen ``aud``, ``iss``, ``tid``,
``exp``, ``nbf``, ``alg`` and ``kid``: including ``alg: none`` and HS256 keyed with the
public key (the classic confusion attack), and keys the JWKS does not (yet) publish.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

API_VERSION = "2024-08-30"
STREAMS = "/messages/streams/"
TENANT_ID = "8a1c3f4e-0d2b-4c6a-9e7f-1b2c3d4e5f60"
AUDIENCE = "api://wa-archive-acs-webhook"
EVENT_GRID_APP_ID = "4962773b-9cdb-44cf-a8bf-237846a00ab7"
_EMPTY_SHA256 = base64.b64encode(hashlib.sha256(b"").digest()).decode()


class _Server:
    """A threading HTTP server on a free loopback port that hands GETs to `handle`."""

    def __init__(self, handle: Callable[[BaseHTTPRequestHandler], None]) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                handle(self)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def send(h: BaseHTTPRequestHandler, status: int, body: bytes, ctype: str,
         headers: dict[str, str] | None = None) -> None:
    h.send_response(status)
    h.send_header("Content-Type", ctype)
    for name, value in (headers or {}).items():
        h.send_header(name, value)
    if "Content-Length" not in (headers or {}):
        h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


# --- ACS media --------------------------------------------------------------------------


@dataclass
class AcsMediaItem:
    data: bytes
    mime_type: str = "image/jpeg"
    script: tuple[int, ...] = ()  # statuses answered to the first downloads
    always_status: int | None = None
    chunked: bool = False  # no Content-Length on the download
    declared_length: int | None = None  # a Content-Length header of the test's choosing
    downloads: int = 0

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class AcsRequest:
    path: str
    api_version: str | None
    authorized: bool
    authorization: str | None


class AcsStandIn:
    def __init__(self, access_key: str | None = None) -> None:
        self.access_key = access_key or base64.b64encode(secrets.token_bytes(32)).decode()
        self.items: dict[str, AcsMediaItem] = {}
        self.requests: list[AcsRequest] = []
        self._server = _Server(self._handle)

    @property
    def base_url(self) -> str:
        return self._server.base_url

    @property
    def connection_string(self) -> str:
        return f"endpoint={self.base_url}/;accesskey={self.access_key}"

    def add(self, media_id: str, item: AcsMediaItem) -> AcsMediaItem:
        self.items[media_id] = item
        return item

    def start(self) -> AcsStandIn:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def _authorized(self, h: BaseHTTPRequestHandler) -> bool:
        date, digest = h.headers.get("x-ms-date"), h.headers.get("x-ms-content-sha256")
        auth, host = h.headers.get("Authorization") or "", h.headers.get("Host") or ""
        prefix = "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature="
        if not date or digest != _EMPTY_SHA256 or not auth.startswith(prefix):
            return False
        try:  # as the service does: a signed date far from now is a replay
            if abs((datetime.now(UTC) - parsedate_to_datetime(date)).total_seconds()) > 900:
                return False
        except (TypeError, ValueError):
            return False
        signed = f"GET\n{h.path}\n{date};{host};{digest}".encode()
        expected = hmac.new(base64.b64decode(self.access_key), signed, hashlib.sha256).digest()
        return hmac.compare_digest(base64.b64encode(expected).decode(), auth[len(prefix):])

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(h.path)
        query = dict(p.partition("=")[::2] for p in parts.query.split("&") if p)
        ok = self._authorized(h)
        self.requests.append(AcsRequest(parts.path, query.get("api-version"), ok,
                                        h.headers.get("Authorization")))
        if not ok:
            send(h, 401, b'{"error":{"code":"Unauthorized"}}', "application/json")
            return
        item = self.items.get(unquote(parts.path[len(STREAMS):]))
        if not parts.path.startswith(STREAMS) or item is None:
            send(h, 404, b'{"error":{"code":"NotFound"}}', "application/json")
            return
        item.downloads += 1
        status = (item.script[item.downloads - 1] if item.downloads <= len(item.script)
                  else item.always_status)
        if status is not None:
            send(h, status, b'{"error":{"code":"Scripted"}}', "application/json")
            return
        if item.chunked:
            self._chunked(h, item)
            return
        headers = ({"Content-Length": str(item.declared_length)}
                   if item.declared_length is not None else None)
        if item.declared_length is not None:
            h.close_connection = True
        send(h, 200, item.data, item.mime_type, headers)

    def _chunked(self, h: BaseHTTPRequestHandler, item: AcsMediaItem) -> None:
        h.send_response(200)
        h.send_header("Content-Type", item.mime_type)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        try:
            for start in range(0, len(item.data), 65536):
                chunk = item.data[start:start + 65536]
                h.wfile.write(f"{len(chunk):X}\r\n".encode() + chunk + b"\r\n")
            h.wfile.write(b"0\r\n\r\n")
        except OSError:
            h.close_connection = True  # the fetcher stopped reading (over the cap): expected


# --- Entra ID issuer --------------------------------------------------------------------


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _uint(value: int) -> str:
    return _b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


@dataclass
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey
    published: bool = True

    def jwk(self) -> dict[str, str]:
        numbers = self.private.public_key().public_numbers()
        return {"kty": "RSA", "use": "sig", "kid": self.kid, "n": _uint(numbers.n),
                "e": _uint(numbers.e)}

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@dataclass
class EntraIssuer:
    tenant_id: str = TENANT_ID
    audience: str = AUDIENCE
    keys: list[SigningKey] = field(default_factory=list)
    key_requests: int = 0

    def __post_init__(self) -> None:
        # Bound only by start(): unit tests mint tokens without opening a socket.
        self._server: _Server | None = None
        if not self.keys:
            self.add_key()

    @property
    def keys_url(self) -> str:
        if self._server is None:
            raise RuntimeError("start() the issuer before asking for its keys URL")
        return f"{self._server.base_url}/{self.tenant_id}/discovery/v2.0/keys"

    @property
    def issuer_v1(self) -> str:
        return f"https://sts.windows.net/{self.tenant_id}/"

    @property
    def issuer_v2(self) -> str:
        return f"https://login.microsoftonline.com/{self.tenant_id}/v2.0"

    def add_key(self, *, published: bool = True) -> SigningKey:
        key = SigningKey(kid=secrets.token_urlsafe(12),
                         private=rsa.generate_private_key(public_exponent=65537, key_size=2048),
                         published=published)
        self.keys.append(key)
        return key

    def start(self) -> EntraIssuer:
        self._server = _Server(self._handle)
        self._server.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    def jwks(self) -> bytes:
        return json.dumps({"keys": [k.jwk() for k in self.keys if k.published]}).encode()

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        if urlsplit(h.path).path != urlsplit(self.keys_url).path:
            send(h, 404, b"{}", "application/json")
            return
        self.key_requests += 1
        send(h, 200, self.jwks(), "application/json")

    def claims(self, **overrides: Any) -> dict[str, Any]:
        """Event Grid's app-only token for the webhook app: v1 issuer, an hour's validity."""
        issued = int(time.time())
        claims: dict[str, Any] = {
            "aud": self.audience, "iss": self.issuer_v1, "tid": self.tenant_id,
            "iat": issued, "nbf": issued, "exp": issued + 3600, "ver": "1.0",
            "appid": EVENT_GRID_APP_ID, "roles": ["AzureEventGridSecureWebhookSubscriber"],
            "sub": secrets.token_hex(8),
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def mint(self, *, alg: str = "RS256", key: SigningKey | None = None,
             kid: str | None = None, header: dict[str, Any] | None = None,
             **claims: Any) -> str:
        """A compact JWS; ``claims`` override `claims()` (None removes one)."""
        key = key or self.keys[0]
        head: dict[str, Any] = {"alg": alg, "typ": "JWT", "kid": kid or key.kid, **(header or {})}
        signing_input = (_b64url(json.dumps(head).encode()) + "."
                         + _b64url(json.dumps(self.claims(**claims)).encode()))
        if alg == "none":
            signature = b""
        elif alg == "HS256":  # keyed with the public key, as an attacker would
            signature = hmac.new(key.public_pem(), signing_input.encode(), hashlib.sha256).digest()
        else:
            signature = key.private.sign(signing_input.encode(), padding.PKCS1v15(),
                                         hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"
