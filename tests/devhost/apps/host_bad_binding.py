"""Fixture app using a binding devhost cannot serve (blob input)."""

import azure.functions as func

app = func.FunctionApp()


@app.route(route="read", auth_level=func.AuthLevel.ANONYMOUS)
@app.blob_input(arg_name="doc", path="raw/{name}", connection="AzureWebJobsStorage")
def read_blob(req: func.HttpRequest, doc: str) -> func.HttpResponse:
    return func.HttpResponse(doc)
