"""Fixture app for devhost HTTP tests: routes, auth levels, conversion, concurrency."""

import asyncio
import json
import threading

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
RELEASE = threading.Event()


@app.route(route="hello/{name}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def hello(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(f"hello {req.route_params['name']}")


@app.route(route="items/{id:int}/{part?}", methods=["GET", "POST"])
def items(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    echo = {
        "method": req.method,
        "url": req.url,
        "route_params": dict(req.route_params),
        "params": dict(req.params),
        "x_test": req.headers.get("X-Test"),
        "body_length": len(req.get_body()),
        "function_name": context.function_name,
    }
    return func.HttpResponse(json.dumps(echo), mimetype="application/json")


@app.route(route="echo", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
async def echo(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(
        req.get_body(),
        status_code=201,
        headers={"X-Echo-Length": str(len(req.get_body()))},
        mimetype="application/octet-stream",
    )


@app.route(route="ops/reindex", auth_level=func.AuthLevel.ADMIN)
def admin_only(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("admin ok")


@app.route(route="broken", auth_level=func.AuthLevel.ANONYMOUS)
def broken(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("handler bug")


@app.route(route="slow", auth_level=func.AuthLevel.ANONYMOUS)
def slow(req: func.HttpRequest) -> func.HttpResponse:
    # Blocks a worker thread until /release runs; returns "timeout" if the host serialised them.
    released = RELEASE.wait(timeout=20)
    return func.HttpResponse("released" if released else "timeout")


@app.route(route="release", auth_level=func.AuthLevel.ANONYMOUS)
async def release(req: func.HttpRequest) -> func.HttpResponse:
    RELEASE.set()
    return func.HttpResponse("ok")


@app.route(route="where", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def where(req: func.HttpRequest) -> func.HttpResponse:
    # Where an async handler runs: the worker runs it on its event loop, not in a thread.
    doc = {"loop": id(asyncio.get_running_loop()), "thread": threading.get_ident()}
    return func.HttpResponse(json.dumps(doc), mimetype="application/json")
