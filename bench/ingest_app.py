"""The webhook front door alone (no queue worker, no Durable), for bench/ingest.py.

On Flex Consumption HTTP triggers scale apart from the queue worker, so the front
door's own rate is measured without the worker competing for the same two cores.
"""

import azure.functions as func

from ingest import health, webhooks

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(webhooks.bp)
app.register_functions(health.bp)
