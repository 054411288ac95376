"""HTTP triggers on aiohttp: route templates, keys, and func.HttpRequest/HttpResponse.

Each request runs in its own task and sync handlers run in worker threads, so a
slow handler never holds up the others.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import azure.functions as func
from aiohttp import web

from devhost.bindings import DurableClientJson, invoke
from devhost.discovery import FunctionSpec
from devhost.keys import KeyRing, presented_key

log = logging.getLogger("devhost.http")
_PARAM = re.compile(r"\{([^{}]+)\}")
# ASP.NET route constraints that change matching; others are accepted and not enforced.
_CONSTRAINT_PATTERNS = {"int": r"-?\d+", "long": r"-?\d+", "bool": r"(?i:true|false)"}
DURABLE_WEBHOOK_PREFIX = "/runtime/webhooks/"
ADMIN_PREFIX = "/admin/"


@dataclass(frozen=True)
class Route:
    spec: FunctionSpec
    pattern: re.Pattern[str]
    methods: frozenset[str] | None  # None: every method
    auth_level: str
    # Sort key: routes with more literal text win over parameterised ones.
    priority: tuple[int, int, int]


def _param_regex(token: str) -> tuple[str, bool]:
    """Regex for one `{...}` token, and whether it is optional."""
    catch_all = token.startswith("*")
    token = token.lstrip("*")
    name, _, default = token.partition("=")
    optional = name.endswith("?") or bool(default) or catch_all
    name = name.rstrip("?")
    name, _, constraint = name.partition(":")
    constraint = constraint.rstrip("?").split("(")[0].lower()
    if not name.isidentifier():
        raise ValueError(f"route parameter {name!r} is not a valid name")
    body = ".*" if catch_all else _CONSTRAINT_PATTERNS.get(constraint, r"[^/]+")
    return f"(?P<{name}>{body})", optional


def compile_route(template: str) -> tuple[re.Pattern[str], tuple[int, int, int]]:
    """Compile a Functions route template ("items/{id:int}/{part?}") to a regex."""
    pieces: list[str] = []
    literal_chars = params = catch_alls = 0
    for segment in [s for s in template.strip("/").split("/") if s]:
        whole = _PARAM.fullmatch(segment)
        if whole is not None:
            regex, optional = _param_regex(whole.group(1))
            params += 1
            catch_alls += whole.group(1).startswith("*")
            pieces.append(f"(?:/{regex})?" if optional else f"/{regex}")
            continue
        out, pos = "", 0
        for match in _PARAM.finditer(segment):
            out += re.escape(segment[pos : match.start()]) + _param_regex(match.group(1))[0]
            literal_chars += match.start() - pos
            params += 1
            pos = match.end()
        out += re.escape(segment[pos:])
        literal_chars += len(segment) - pos
        pieces.append("/" + out)
    pattern = re.compile("".join(pieces) + "/?", re.IGNORECASE)
    return pattern, (catch_alls, params, -literal_chars)


def build_routes(specs: list[FunctionSpec]) -> list[Route]:
    routes: list[Route] = []
    for spec in specs:
        if spec.trigger_type != "httpTrigger":
            continue
        trigger = spec.trigger
        pattern, priority = compile_route(str(trigger.get("route") or spec.name))
        methods = trigger.get("methods")
        routes.append(
            Route(
                spec=spec,
                pattern=pattern,
                methods=frozenset(str(m).upper() for m in methods) if methods else None,
                auth_level=str(trigger.get("authLevel") or "FUNCTION").upper(),
                priority=priority,
            )
        )
    return sorted(routes, key=lambda r: r.priority)


def to_func_request(
    request: web.Request, body: bytes, route_params: dict[str, str]
) -> func.HttpRequest:
    params: dict[str, str] = {}
    for key, value in request.query.items():
        params.setdefault(key, value)  # the first value wins for repeated keys
    headers: dict[str, str] = {}
    for key, value in request.headers.items():
        lower = key.lower()
        headers[lower] = f"{headers[lower]}, {value}" if lower in headers else value
    return func.HttpRequest(
        method=request.method,
        url=str(request.url),
        headers=headers,
        params=params,
        route_params=route_params,
        body=body,
    )


def to_web_response(result: Any) -> web.Response:
    if isinstance(result, func.HttpResponse):
        response = web.Response(status=result.status_code, body=result.get_body())
        for key, value in result.headers.items():
            response.headers.add(key, value)
        if "Content-Type" not in response.headers:
            response.headers["Content-Type"] = f"{result.mimetype}; charset={result.charset}"
        return response
    if result is None:
        return web.Response(status=204)
    if isinstance(result, bytes | bytearray):
        return web.Response(body=bytes(result), content_type="application/octet-stream")
    return web.Response(text=str(result), content_type="text/plain")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def key_middleware(keys: KeyRing) -> Any:
    """Guard the host's own endpoints (Durable webhooks, /admin) with the master key."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path.startswith((DURABLE_WEBHOOK_PREFIX, ADMIN_PREFIX)) and not keys.allows(
            "ADMIN", presented_key(request.query, request.headers)
        ):
            return web.Response(status=401, text="master key required")
        return await handler(request)

    return middleware


class HttpTriggers:
    """Serves every httpTrigger function under /<routePrefix>/."""

    def __init__(
        self,
        specs: list[FunctionSpec],
        *,
        route_prefix: str,
        keys: KeyRing,
        durable_client_json: DurableClientJson | None,
    ) -> None:
        self.routes = build_routes(specs)
        self.prefix = "/" + route_prefix.strip("/") if route_prefix.strip("/") else ""
        self.keys = keys
        self.durable_client_json = durable_client_json

    def mount(self, app: web.Application) -> None:
        app.router.add_route(
            "*", self.prefix + "/{tail:.*}" if self.prefix else "/{tail:.+}", self.handle
        )

    def match(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            found = route.pattern.fullmatch(path)
            if found is None:
                continue
            if route.methods is not None and method.upper() not in route.methods:
                continue
            return route, {k: v for k, v in found.groupdict().items() if v is not None}
        return None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        tail = request.match_info.get("tail", "")
        matched = self.match(request.method, "/" + tail if tail else "")
        if matched is None:
            return web.Response(status=404)
        route, route_params = matched
        if not self.keys.allows(route.auth_level, presented_key(request.query, request.headers)):
            return web.Response(status=401)
        # A declared length over the limit is refused before reading a byte (as Kestrel
        # does); aiohttp enforces client_max_size while reading chunked bodies.
        declared = request.content_length
        if declared is not None and 0 < request.client_max_size < declared:
            return web.Response(status=413, text="request body too large")
        body = await request.read()
        func_request = to_func_request(request, body, route_params)
        try:
            result = await invoke(route.spec, func_request, self.durable_client_json)
        except Exception:
            log.exception("function %s failed", route.spec.name)
            return web.Response(status=500)
        return to_web_response(result)
