"""DurableRuntime: the orchestration runtime together with the Durable HTTP API it serves.

Kept apart from runtime.py so the API depends on the runtime and never the reverse.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from devhost.durable import api
from devhost.durable.runtime import OrchestrationRuntime


class DurableRuntime(OrchestrationRuntime):
    """What DevHost starts: `add_routes` serves the API, `client_binding_json` points at it."""

    def add_routes(self, app: web.Application, prefix: str) -> None:
        api.add_routes(self, app, prefix)

    def client_binding_json(self, binding: dict[str, Any]) -> str:
        return json.dumps(api.client_binding(self, binding))
