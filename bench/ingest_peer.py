"""The bare peer of the webhook front door, for bench/ingest.py: HMAC check and enqueue only.

    ARCHIVE_STORAGE="<connection string>" WHATSAPP_APP_SECRET=... \
      .venv/bin/python -m bench.ingest_peer [--port 0] [--queue NAME]

A minimal aiohttp app, run in its own process as devhost is, so both pay the same for
HTTP. It reads the body, checks Meta's X-Hub-Signature-256 HMAC in constant time with
one secret (WHATSAPP_APP_SECRET, its first entry), puts the body on a queue with the
aio QueueClient (base64, as the Functions host expects; SDK defaults otherwise, unless
--no-env-settings) and answers 200. What it
lacks on purpose, and the front door keeps: the size cap, several secrets, the
claim-check of big bodies, the envelope with custody fields, logging, the 503.

Prints `peer ready http://127.0.0.1:<port>` once serving; SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import os
import signal

from aiohttp import web
from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import TextBase64EncodePolicy
from azure.storage.queue.aio import QueueClient

READY_PREFIX = "peer ready"
SIGNATURE_HEADER = "X-Hub-Signature-256"


def make_app(queue: QueueClient, secret: bytes) -> web.Application:
    async def webhook(request: web.Request) -> web.Response:
        body = await request.read()
        given = request.headers.get(SIGNATURE_HEADER, "")
        expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), given.strip().encode()):
            return web.Response(status=401)
        await queue.send_message(body.decode("utf-8"), time_to_live=-1)
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/api/webhooks/meta", webhook)
    return app


async def serve(
    conn: str, queue_name: str, secret: str, host: str, port: int, env_settings: bool
) -> None:
    queue = QueueClient.from_connection_string(
        conn, queue_name, message_encode_policy=TextBase64EncodePolicy(),
        use_env_settings=env_settings,
    )
    async with queue:
        with contextlib.suppress(ResourceExistsError):
            await queue.create_queue()
        runner = web.AppRunner(make_app(queue, secret.encode()), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0][1]
        print(f"{READY_PREFIX} http://{host}:{bound}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--queue", default="ingest-peer")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument(
        "--no-env-settings", action="store_true",
        help="aio transport without env settings (no per-request netrc/proxy lookup in a "
             "thread), as the front door's clients are built when no proxy is configured",
    )
    args = parser.parse_args()
    conn = os.environ.get("ARCHIVE_STORAGE", "").strip()
    secret = os.environ.get("WHATSAPP_APP_SECRET", "").split(",")[0].strip()
    if not conn or not secret:
        raise SystemExit("ARCHIVE_STORAGE and WHATSAPP_APP_SECRET must be set")
    asyncio.run(serve(conn, args.queue, secret, args.host, args.port, not args.no_env_settings))


if __name__ == "__main__":
    main()
