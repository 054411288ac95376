"""`python -m devhost --app <path>`: run a Functions app locally until SIGINT/SIGTERM.

Prints `devhost ready http://<host>:<port>` (flushed) once every listener is up.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from devhost.config import ConfigError, load_settings_file
from devhost.discovery import DiscoveryError
from devhost.host import DEFAULT_PORT, DEFAULT_RPC_PORT, LOOPBACK, DevHost

READY_PREFIX = "devhost ready"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__)
    parser.add_argument("--app", default=".", help="function_app.py, its folder, or a module")
    parser.add_argument("--host", default=LOOPBACK, help="HTTP listen address")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="HTTP port (0: any free)")
    parser.add_argument(
        "--rpc-port", type=int, default=DEFAULT_RPC_PORT, help="loopback Durable RPC port"
    )
    parser.add_argument("--host-json", type=Path, help="host.json (default: next to the app)")
    parser.add_argument(
        "--settings", type=Path, help="JSON settings to add to the environment (env wins)"
    )
    return parser


def print_ready(host: DevHost) -> None:
    print(f"{READY_PREFIX} {host.url}", flush=True)


async def serve(host: DevHost, announce: Callable[[DevHost], None] = print_ready) -> None:
    """Run `host` until SIGINT/SIGTERM; `announce` runs once everything is serving."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await host.start()
        announce(host)
        await stop.wait()
    finally:
        await host.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(message)s"
    )
    logging.getLogger("azure").setLevel(logging.WARNING)
    if args.settings:
        for name, value in load_settings_file(args.settings).items():
            os.environ.setdefault(name, value)
    host = DevHost(
        args.app,
        host_json=args.host_json,
        host=args.host,
        port=args.port,
        rpc_port=args.rpc_port,
    )
    try:
        asyncio.run(serve(host))
    except (ConfigError, DiscoveryError, OSError) as exc:
        print(f"devhost: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
