"""GET /api/health: liveness only. Reveals no settings, versions or secrets."""

from __future__ import annotations

import azure.functions as func

from ingest.responses import json_response

bp = func.Blueprint()  # type: ignore[no-untyped-call]


@bp.route(route="health", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    return json_response(200, {"status": "ok"})
