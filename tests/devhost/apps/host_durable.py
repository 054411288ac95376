"""Fixture DFApp for the devhost/Durable smoke test: HTTP starter -> orchestration -> activity."""

import json

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="start/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    instance_id = await client.start_new("greet", None, req.route_params["name"])
    return func.HttpResponse(json.dumps({"id": instance_id}), mimetype="application/json")


@app.route(route="status/{id}", methods=["GET"])
@app.durable_client_input(client_name="client")
async def status(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    state = await client.get_status(req.route_params["id"])
    body = {
        "status": state.runtime_status.value if state.runtime_status else None,
        "output": state.output,
    }
    return func.HttpResponse(json.dumps(body), mimetype="application/json")


@app.orchestration_trigger(context_name="context")
def greet(context: df.DurableOrchestrationContext):
    greeting = yield context.call_activity("make_greeting", context.get_input())
    return greeting


@app.activity_trigger(input_name="name")
def make_greeting(name: str) -> str:
    return f"hello {name}"
