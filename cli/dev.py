"""`wa-archive dev`: Azurite + the archive's resources + devhost on function_app.py.

Data and local settings live under .wa-archive/ in the repo (or --data-dir), so
a rerun keeps stored records, queues and the generated dev secrets.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from admin.private_files import write_private_json
from archive.names import (
    SETTING_ACS_WEBHOOK_SECRET,
    SETTING_APP_SECRET,
    SETTING_ARCHIVE_STORAGE,
    SETTING_CUSTODY_MAC_KEY,
    SETTING_GRAPH_URL,
    SETTING_HOST_STORAGE,
    SETTING_MANIFEST_KEY_ID,
    SETTING_MAX_WEBHOOK_BYTES,
    SETTING_POISON_DRAIN_SCHEDULE,
    SETTING_PUBLIC_BASE_URL,
    SETTING_RETENTION_SCHEDULE,
    SETTING_SEAL_SCHEDULE,
    SETTING_TWILIO_AUTH_TOKEN,
    SETTING_VERIFY_SCHEDULE,
    SETTING_VERIFY_TOKEN,
    SETTING_WASENDER_WEBHOOK_SECRET,
)
from devhost.azurite import REPO_ROOT, Azurite, AzuriteError, PortInUse
from devhost.config import BODY_LIMIT_SETTING, ConfigError
from devhost.discovery import DiscoveryError
from devhost.host import DEFAULT_PORT, DEFAULT_RPC_PORT, LOOPBACK, DevHost
from devhost.keys import FUNCTION_KEY_SETTING, MASTER_KEY_SETTING
from ingest.housekeeping import DEFAULT_POISON_DRAIN_SCHEDULE
from ingest.retention_timer import DEFAULT_RETENTION_SCHEDULE
from orchestrations.seal_day import DEFAULT_SEAL_SCHEDULE
from orchestrations.verify_run import DEFAULT_VERIFY_SCHEDULE
from storage.settings import DEFAULT_GRAPH_URL, DEFAULT_MAX_WEBHOOK_BYTES
from storage.signing import generate_key_file

WEBHOOK_ROUTE = "webhooks/meta"
# Issue 13: how each other provider authenticates its deliveries, as `wa-archive dev` prints it.
PROVIDER_ROUTES = (
    ("wasender", "X-Webhook-Signature: <WASENDER_WEBHOOK_SECRET>", ""),
    ("twilio", "X-Twilio-Signature over PUBLIC_BASE_URL + path + form, TWILIO_AUTH_TOKEN", ""),
    ("acs", "Event Grid; URL secret", "?secret=<ACS_WEBHOOK_SECRET>"),
)
AZURITE_DEFAULT_PORTS = (10000, 10001, 10002)
SETTINGS_FILE = "settings.json"
SEAL_KEY_FILE = "seal-signing-key.pem"
# Generated once, then kept: the values a developer pastes into Meta's console or the TUI.
GENERATED: dict[str, Callable[[], str]] = {
    SETTING_APP_SECRET: lambda: secrets.token_hex(32),
    SETTING_VERIFY_TOKEN: lambda: secrets.token_urlsafe(24),
    FUNCTION_KEY_SETTING: lambda: secrets.token_urlsafe(32),
    MASTER_KEY_SETTING: lambda: secrets.token_urlsafe(32),
    # The app MACs what it cannot keep verbatim (e.g. outbound captures) under this key.
    SETTING_CUSTODY_MAC_KEY: lambda: secrets.token_hex(32),
    # Issue 13 providers: what a developer signs local test deliveries with.
    SETTING_WASENDER_WEBHOOK_SECRET: lambda: secrets.token_hex(32),
    SETTING_TWILIO_AUTH_TOKEN: lambda: secrets.token_hex(16),  # Twilio's: 32 hex characters
    SETTING_ACS_WEBHOOK_SECRET: lambda: secrets.token_urlsafe(32),
}
_SECRET_NAME = re.compile(r"SECRET|TOKEN|KEY|PASSWORD", re.IGNORECASE)
_SECRET_PART = re.compile(
    r"((?:AccountKey|SharedAccessSignature|SharedAccessKey|Password)=)[^;]*", re.IGNORECASE
)


def mask(name: str, value: str) -> str:
    """A printable form of a setting: secrets hidden, connection-string keys hidden."""
    # The name decides first: a secret's value may contain `=` and `;` by chance.
    if _SECRET_NAME.search(name):
        return f"**** ({len(value)} chars)"
    if "=" in value and ";" in value:
        return _SECRET_PART.sub(r"\1****", value)
    return value


def load_or_create_settings(path: Path) -> dict[str, str]:
    settings: dict[str, str] = {}
    if path.exists():
        raw: Any = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: expected a JSON object")
        settings = {str(k): str(v) for k, v in raw.items()}
    for name, make in GENERATED.items():
        settings.setdefault(name, make())
    settings.setdefault(SETTING_GRAPH_URL, DEFAULT_GRAPH_URL)
    settings.setdefault(SETTING_POISON_DRAIN_SCHEDULE, DEFAULT_POISON_DRAIN_SCHEDULE)
    settings.setdefault(SETTING_SEAL_SCHEDULE, DEFAULT_SEAL_SCHEDULE)
    settings.setdefault(SETTING_VERIFY_SCHEDULE, DEFAULT_VERIFY_SCHEDULE)
    settings.setdefault(SETTING_RETENTION_SCHEDULE, DEFAULT_RETENTION_SCHEDULE)
    if SETTING_MANIFEST_KEY_ID not in settings:
        # Locally the daily seals are signed with a P-256 key file (Key Vault in Azure).
        key_file = path.parent / SEAL_KEY_FILE
        prepare_data_dir(path.parent)
        generate_key_file(key_file)
        settings[SETTING_MANIFEST_KEY_ID] = f"file:{key_file}"
    # As in Azure (bicep/modules/function-app.bicep): the host refuses a body over
    # the app's cap before buffering it.
    settings.setdefault(
        BODY_LIMIT_SETTING,
        settings.get(SETTING_MAX_WEBHOOK_BYTES, str(DEFAULT_MAX_WEBHOOK_BYTES)),
    )
    return settings


def prepare_data_dir(folder: Path) -> None:
    """Create the data folder owner-only, and tighten one left loose by an older version."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)


def save_settings(path: Path, settings: dict[str, str]) -> None:
    """Write atomically and owner-only: the file holds the dev secrets and keys."""
    prepare_data_dir(path.parent)
    # Earlier versions wrote through `settings.tmp`; one left by a crash may be loose and
    # hold the secrets. (write_private_json's own temp files are created 0600.)
    path.with_suffix(".tmp").unlink(missing_ok=True)
    write_private_json(path, settings)


def _ports(text: str) -> tuple[int, int, int] | None:
    if text == "auto":
        return None
    parts = [int(p) for p in text.split(",")]
    if len(parts) != 3:
        raise argparse.ArgumentTypeError("expected BLOB,QUEUE,TABLE ports or 'auto'")
    return parts[0], parts[1], parts[2]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "dev", help="run the archive locally: Azurite + devhost on function_app.py"
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="HTTP port (0: any free)")
    parser.add_argument("--rpc-port", type=int, default=DEFAULT_RPC_PORT, help="Durable RPC port")
    parser.add_argument(
        "--data-dir", type=Path, default=REPO_ROOT / ".wa-archive", help="data and settings folder"
    )
    parser.add_argument(
        "--azurite-ports",
        type=_ports,
        default=AZURITE_DEFAULT_PORTS,
        metavar="BLOB,QUEUE,TABLE",
        help="Azurite ports (default 10000,10001,10002; 'auto': free ports)",
    )
    parser.add_argument(
        "--no-azurite",
        action="store_true",
        help=f"use the storage in ${SETTING_HOST_STORAGE} (and ${SETTING_ARCHIVE_STORAGE})",
    )
    parser.add_argument(
        "--app", type=Path, default=REPO_ROOT / "function_app.py", help="the app to run"
    )
    parser.set_defaults(handler=run)


def _storage_from_env() -> tuple[str, str]:
    host_conn = os.environ.get(SETTING_HOST_STORAGE, "")
    if not host_conn:
        raise ConfigError(f"--no-azurite needs {SETTING_HOST_STORAGE} in the environment")
    return host_conn, os.environ.get(SETTING_ARCHIVE_STORAGE) or host_conn


def _announce(host: DevHost, settings: dict[str, str], settings_path: Path) -> None:
    # With --port 0 the URL is known only now; the app (in this process) reads it at use.
    os.environ.setdefault(SETTING_PUBLIC_BASE_URL, host.url)
    settings.setdefault(SETTING_PUBLIC_BASE_URL, os.environ[SETTING_PUBLIC_BASE_URL])
    lines = [
        f"wa-archive dev: serving {len(host.specs)} function(s) from {host.app_target}",
        f"  webhook URL:   {host.url}/{host.config.route_prefix}/{WEBHOOK_ROUTE}"
        "  (signed with WHATSAPP_APP_SECRET; no key)",
        *(f"  {name + ' URL:':<15}{host.url}/{host.config.route_prefix}/webhooks/{name}{query}"
          f"  ({how})" for name, how, query in PROVIDER_ROUTES),
        f"  outbound URL:  {host.url}/{host.config.route_prefix}/outbound"
        f"  (FUNCTION level: add ?code=<{FUNCTION_KEY_SETTING}>)",
        f"  settings file: {settings_path}",
        "  settings:",
        *(f"    {name} = {mask(name, value)}" for name, value in sorted(settings.items())),
        "  Ctrl-C stops devhost and Azurite; data is kept for the next run.",
    ]
    print("\n".join(lines), flush=True)
    print(f"devhost ready {host.url}", flush=True)


def _publish_durable_api(host: DevHost, data_dir: Path) -> None:
    """Tell the admin tools in another terminal where this run's Durable API is."""
    from admin.durable_api import DURABLE_PATH, write_discovery

    if host.durable is not None:
        write_discovery(data_dir, f"{host.url}{DURABLE_PATH}", host.keys.master_key)


def run(args: argparse.Namespace) -> int:
    from admin.durable_api import remove_discovery
    from admin.metrics_local import metrics_dir, start_status_printer
    from devhost.__main__ import serve
    from storage.provision import ensure_archive_resources

    data_dir: Path = args.data_dir.resolve()
    settings_path = data_dir / SETTINGS_FILE
    azurite: Azurite | None = None
    stop_status: Callable[[], None] | None = None
    try:
        prepare_data_dir(data_dir)
        settings = load_or_create_settings(settings_path)
        if args.no_azurite:
            host_conn, archive_conn = _storage_from_env()
        else:
            ports = args.azurite_ports or (None, None, None)
            azurite = Azurite(
                data_dir / "azurite", blob_port=ports[0], queue_port=ports[1], table_port=ports[2]
            )
            azurite.start()
            if azurite.retired_pid is not None:
                print(
                    f"wa-archive dev: stopped an earlier Azurite (pid {azurite.retired_pid}) "
                    "left running on this data folder",
                    flush=True,
                )
            host_conn = archive_conn = azurite.connection_string
        settings[SETTING_HOST_STORAGE] = host_conn
        settings[SETTING_ARCHIVE_STORAGE] = archive_conn
        save_settings(settings_path, settings)
        # Local metrics (issue 15): the app in this process exports snapshots here, the
        # status line below and the TUI read them; no Azure needed.
        os.environ.setdefault("WA_METRICS_DIR", str(metrics_dir(data_dir)))
        ensure_archive_resources(archive_conn)
        # Real environment variables win over the file, except the storage just chosen.
        for name, value in settings.items():
            if name in (SETTING_HOST_STORAGE, SETTING_ARCHIVE_STORAGE):
                os.environ[name] = value
            else:
                os.environ.setdefault(name, value)
        host = DevHost(args.app, port=args.port, rpc_port=args.rpc_port, host=LOOPBACK)
        if args.port:
            # Twilio signs the URL it calls; locally that is devhost itself. Not saved:
            # the port may differ on the next run (a real setting still wins).
            os.environ.setdefault(SETTING_PUBLIC_BASE_URL, f"http://{LOOPBACK}:{args.port}")
        effective = {name: os.environ[name] for name in settings}
        if SETTING_PUBLIC_BASE_URL in os.environ:
            effective[SETTING_PUBLIC_BASE_URL] = os.environ[SETTING_PUBLIC_BASE_URL]

        def announce(ready: DevHost) -> None:
            _publish_durable_api(ready, data_dir)
            _announce(ready, effective, settings_path)

        stop_status = start_status_printer(
            metrics_dir(data_dir), lambda line: print(f"wa-archive dev: {line}", flush=True)
        )
        asyncio.run(serve(host, announce=announce))
    except PortInUse as exc:
        print(
            f"wa-archive dev: {exc}. Stop that process, or choose other Azurite ports with "
            "--azurite-ports BLOB,QUEUE,TABLE (or --azurite-ports auto).",
            file=sys.stderr,
        )
        return 2
    except (AzuriteError, ConfigError, DiscoveryError, OSError) as exc:
        print(f"wa-archive dev: {exc}", file=sys.stderr)
        return 2
    finally:
        if stop_status is not None:
            stop_status()
        remove_discovery(data_dir)
        if azurite is not None:
            azurite.stop()
    return 0

