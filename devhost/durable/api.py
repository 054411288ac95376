"""The Durable HTTP API subset that the SDK's DurableOrchestrationClient calls on rpcBaseUrl.

Status codes and JSON shapes follow what the SDK parses (DurableOrchestrationClient,
DurableOrchestrationStatus.from_json, PurgeHistoryResult.from_json).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from azure.core.exceptions import AzureError

from devhost.durable import history as h
from devhost.durable.runtime import OrchestrationRuntime, UnknownOrchestrator
from devhost.durable.store import ACTIVE, TERMINAL, Instance, instance_filter

CONTINUATION_HEADER = "x-ms-continuation-token"
INSTANCE_PLACEHOLDER = "INSTANCEID"


def client_binding(runtime: OrchestrationRuntime, binding: dict[str, Any]) -> dict[str, Any]:
    """What the host hands a durableClient parameter (DurableOrchestrationBindings)."""
    base = runtime.management_base_url
    instance = f"{base}instances/{INSTANCE_PLACEHOLDER}"
    hub = f"taskHub={runtime.hub_name}&connection=Storage"
    return {
        "taskHubName": runtime.hub_name,
        "creationUrls": {
            "createNewInstancePostUri": f"{base}orchestrators/{{functionName}}[/{{instanceId}}]",
            "createAndWaitOnNewInstancePostUri": (
                f"{base}orchestrators/{{functionName}}[/{{instanceId}}]"
                "?timeout={timeoutInSeconds}&pollingInterval={intervalInSeconds}"
            ),
        },
        "managementUrls": {
            "id": INSTANCE_PLACEHOLDER,
            "statusQueryGetUri": f"{instance}?{hub}",
            "sendEventPostUri": f"{instance}/raiseEvent/{{eventName}}?{hub}",
            "terminatePostUri": f"{instance}/terminate?reason={{text}}&{hub}",
            "rewindPostUri": f"{instance}/rewind?reason={{text}}&{hub}",
            "purgeHistoryDeleteUri": f"{instance}?{hub}",
            "restartPostUri": f"{instance}/restart?{hub}",
            "suspendPostUri": f"{instance}/suspend?reason={{text}}&{hub}",
            "resumePostUri": f"{instance}/resume?reason={{text}}&{hub}",
        },
        "baseUrl": base,
        "requiredQueryStringParameters": "",
        "rpcBaseUrl": runtime.rpc_base_url,
        "httpBaseUrl": "",
        "maxGrpcMessageSizeInBytes": 0,
        "grpcHttpClientTimeout": "00:01:40",
    }


def _flag(request: web.Request, name: str, default: bool = False) -> bool:
    value = request.query.get(name)
    return default if value is None else value.strip().lower() == "true"


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_json(
    instance: Instance,
    *,
    show_input: bool,
    events: list[h.Event] | None = None,
    show_history_output: bool = False,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": instance.name,
        "instanceId": instance.instance_id,
        "runtimeStatus": instance.status,
        "input": _loads(instance.input_text) if show_input else None,
        "customStatus": _loads(instance.custom_status_text),
        "output": _loads(instance.output_text),
        "createdTime": _time(instance.created),
        "lastUpdatedTime": _time(instance.updated),
    }
    if events is not None:
        shown = [h.named(e) for e in events]
        if not show_history_output:
            for event in shown:
                event.pop("Result", None)
        body["historyEvents"] = shown
    return body


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(body, status=status, headers=headers)


def _filters(request: web.Request) -> dict[str, Any]:
    statuses = [s for s in request.query.get("runtimeStatus", "").split(",") if s]
    created_from = request.query.get("createdTimeFrom")
    created_to = request.query.get("createdTimeTo")
    return {
        "statuses": statuses,
        "created_from": h.parse_iso(created_from) if created_from else None,
        "created_to": h.parse_iso(created_to) if created_to else None,
    }


def add_routes(runtime: OrchestrationRuntime, app: web.Application, prefix: str) -> None:
    prefix = prefix if prefix.endswith("/") else prefix + "/"

    async def start(request: web.Request) -> web.Response:
        body = await request.text()
        input_text: str | None = None
        if body.strip():
            value = json.loads(body)
            # The SDK posts its df_dumps() text as a JSON string; other callers post JSON.
            input_text = value if isinstance(value, str) else json.dumps(value)
        name = request.match_info["functionName"]
        try:
            instance, created = await runtime.start_instance(
                name, request.match_info.get("instanceId"), input_text
            )
        except UnknownOrchestrator as exc:
            return _json(400, {"Message": str(exc), "ExceptionMessage": str(exc)})
        if not created:
            message = (
                f"An Orchestration instance with the status {instance.status} already "
                f"exists (instance id '{instance.instance_id}')."
            )
            return _json(409, {"Message": message, "ExceptionMessage": message})
        payload = client_binding(runtime, {})["managementUrls"]
        links = {
            k: v.replace(INSTANCE_PLACEHOLDER, instance.instance_id) for k, v in payload.items()
        }
        return _json(202, links, {"Location": links["statusQueryGetUri"]})

    async def status(request: web.Request) -> web.Response:
        instance = await runtime.get_instance(request.match_info["instanceId"])
        if instance is None:
            return _json(404, f"No instance with ID '{request.match_info['instanceId']}' found.")
        events = await runtime.get_history(instance) if _flag(request, "showHistory") else None
        body = status_json(
            instance,
            show_input=_flag(request, "showInput", default=True),
            events=events,
            show_history_output=_flag(request, "showHistoryOutput"),
        )
        return _json(202 if instance.status in ACTIVE else 200, body)

    async def query(request: web.Request) -> web.Response:
        top_text = request.query.get("top")
        top = int(top_text) if top_text else None
        token = request.headers.get(CONTINUATION_HEADER)
        after = _decode_token(token) if token else None
        found = await runtime.store.query_instances(
            instance_filter(
                **_filters(request),
                after_id=after,
                id_prefix=request.query.get("instanceIdPrefix"),
            ),
            limit=None if top is None else top + 1,
        )
        headers: dict[str, str] = {}
        if top is not None and len(found) > top:
            found = found[:top]
            headers[CONTINUATION_HEADER] = _encode_token(found[-1].instance_id)
        show_input = _flag(request, "showInput", default=True)
        return _json(200, [status_json(i, show_input=show_input) for i in found], headers)

    async def purge_one(request: web.Request) -> web.Response:
        code = await runtime.purge(request.match_info["instanceId"])
        if code == 409:
            return _json(409, {"Message": "an active instance cannot be purged; terminate it"})
        return _json(200, {"instancesDeleted": 1}) if code == 200 else _json(404, None)

    async def purge_many(request: web.Request) -> web.Response:
        filters = _filters(request)
        filters["statuses"] = [s for s in filters["statuses"] or sorted(TERMINAL) if s in TERMINAL]
        if not filters["statuses"]:
            return _json(404, None)
        deleted = 0
        for instance in await runtime.store.query_instances(instance_filter(**filters)):
            deleted += await runtime.purge(instance.instance_id) == 200
        return _json(200, {"instancesDeleted": deleted}) if deleted else _json(404, None)

    async def terminate(request: web.Request) -> web.Response:
        code = await runtime.terminate(
            request.match_info["instanceId"], request.query.get("reason", "")
        )
        return web.Response(status=code, text="null", content_type="application/json")

    async def unsupported(request: web.Request) -> web.Response:
        return _json(501, {"Message": f"{request.path} is not supported by devhost"})

    guard = _storage_guard
    routes = [
        web.post(prefix + "orchestrators/{functionName}", guard(start)),
        web.post(prefix + "orchestrators/{functionName}/{instanceId}", guard(start)),
        web.get(prefix + "instances", guard(query)),
        web.get(prefix + "instances/", guard(query)),
        web.delete(prefix + "instances", guard(purge_many)),
        web.delete(prefix + "instances/", guard(purge_many)),
        web.get(prefix + "instances/{instanceId}", guard(status)),
        web.delete(prefix + "instances/{instanceId}", guard(purge_one)),
        web.post(prefix + "instances/{instanceId}/terminate", guard(terminate)),
        web.post(prefix + "instances/{instanceId}/{operation}", unsupported),
        web.post(prefix + "instances/{instanceId}/raiseEvent/{eventName}", unsupported),
    ]
    app.router.add_routes(routes)


Handler = Callable[[web.Request], Awaitable[web.Response]]


def _storage_guard(handler: Handler) -> Handler:
    """Task hub storage unreachable: a JSON 503 the caller can retry, not a bare 500."""

    async def guarded(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except AzureError as exc:
            message = f"task hub storage is unavailable ({type(exc).__name__}); retry later"
            return _json(503, {"Message": message, "ExceptionMessage": message})

    return guarded


def _encode_token(last_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": last_id}).encode()).decode()


def _decode_token(token: str) -> str | None:
    try:
        return str(json.loads(base64.urlsafe_b64decode(token.encode()))["after"])
    except (binascii.Error, ValueError, KeyError, TypeError):
        return None
