"""Functions entry point: builds the Durable app and registers the blueprints. Nothing else."""

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
