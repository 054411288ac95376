"""Fixture DFApp for the crash-resume test: each activity appends one line to a side-effect log."""

import os
import time

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

STEPS = 4


@app.orchestration_trigger(context_name="context")
def steps(context: df.DurableOrchestrationContext):
    run = context.get_input()
    done = []
    for i in range(STEPS):
        done.append((yield context.call_activity("step", f"{run}:{i}")))
    return done


@app.activity_trigger(input_name="label")
def step(label: str) -> str:
    time.sleep(0.25)  # long enough that a kill lands between activities
    with open(os.environ["DURABLE_CRASH_LOG"], "a", encoding="utf-8") as log:
        log.write(label + "\n")
    return label
