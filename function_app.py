"""Functions entry point: builds the Durable app and registers the blueprints. Nothing else."""

import azure.durable_functions as df
import azure.functions as func

from ingest import (
    health,
    housekeeping,
    outbound,
    retention_timer,
    webhooks,
    webhooks_acs,
    webhooks_twilio,
    webhooks_wasender,
    worker,
)
from orchestrations import archive_event, lexicon_backfill, refetch_media, seal_day, verify_run

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(webhooks.bp)
app.register_functions(webhooks_wasender.bp)
app.register_functions(webhooks_twilio.bp)
app.register_functions(webhooks_acs.bp)
app.register_functions(outbound.bp)
app.register_functions(health.bp)
app.register_functions(worker.bp)
app.register_functions(housekeeping.bp)
app.register_functions(retention_timer.bp)
app.register_functions(archive_event.bp)
app.register_functions(refetch_media.bp)
app.register_functions(seal_day.bp)
app.register_functions(verify_run.bp)
app.register_functions(lexicon_backfill.bp)
