"""Fixture DFApp exercising the Durable patterns devhost supports (tests run it in-process)."""

import threading
from datetime import timedelta
from typing import Any

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

# Per-key attempt counters and gates, shared with the tests in the same process.
ATTEMPTS: dict[str, int] = {}
GATES: dict[str, threading.Event] = {}
_lock = threading.Lock()


def gate(key: str) -> threading.Event:
    with _lock:
        return GATES.setdefault(key, threading.Event())


@app.orchestration_trigger(context_name="context")
def chain(context: df.DurableOrchestrationContext):
    value = context.get_input()
    seen = []
    for _ in range(3):
        value = yield context.call_activity("double", value)
        seen.append(value)
    return seen


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext):
    numbers = context.get_input()
    results = yield context.task_all([context.call_activity("double", n) for n in numbers])
    return sum(results)


@app.orchestration_trigger(context_name="context")
def first_of(context: df.DurableOrchestrationContext):
    fast = context.call_activity("double", 1)
    timer = context.create_timer(context.current_utc_datetime + timedelta(minutes=10))
    winner = yield context.task_any([fast, timer])
    if winner == fast:
        timer.cancel()
        return "activity"
    return "timer"


@app.orchestration_trigger(context_name="context")
def with_retry(context: df.DurableOrchestrationContext):
    options = df.RetryOptions(first_retry_interval_in_milliseconds=50, max_number_of_attempts=3)
    result = yield context.call_activity_with_retry("flaky", options, context.get_input())
    return result


@app.orchestration_trigger(context_name="context")
def sleepy(context: df.DurableOrchestrationContext):
    start = context.current_utc_datetime
    yield context.create_timer(start + timedelta(seconds=1))
    return (context.current_utc_datetime - start).total_seconds()


@app.orchestration_trigger(context_name="context")
def counter(context: df.DurableOrchestrationContext):
    n = context.get_input()
    yield context.call_activity("double", n)
    if n < 3:
        context.continue_as_new(n + 1)
        return None
    return n


@app.orchestration_trigger(context_name="context")
def reporter(context: df.DurableOrchestrationContext):
    context.set_custom_status({"stage": "working"})
    yield context.call_activity("wait_gate", context.get_input())
    context.set_custom_status({"stage": "done"})
    return "reported"


@app.orchestration_trigger(context_name="context")
def gated(context: df.DurableOrchestrationContext):
    result = yield context.call_activity("wait_gate", context.get_input())
    return result


@app.orchestration_trigger(context_name="context")
def external(context: df.DurableOrchestrationContext):
    value = yield context.wait_for_external_event("approval")
    return value


@app.activity_trigger(input_name="value")
def double(value: int) -> int:
    return value * 2


@app.activity_trigger(input_name="job")
def flaky(job: dict[str, Any]) -> str:
    with _lock:
        ATTEMPTS[job["key"]] = ATTEMPTS.get(job["key"], 0) + 1
        attempt = ATTEMPTS[job["key"]]
    if attempt <= job["fail_times"]:
        raise RuntimeError(f"flaky failure {attempt} for {job['key']}")
    return f"ok after {attempt}"


@app.activity_trigger(input_name="key")
def wait_gate(key: str) -> str:
    if not gate(key).wait(timeout=60):
        raise TimeoutError(f"gate {key} never opened")
    return f"released {key}"


@app.orchestration_trigger(context_name="context")
def retry_fan(context: df.DurableOrchestrationContext):
    key = context.get_input()
    options = df.RetryOptions(first_retry_interval_in_milliseconds=50, max_number_of_attempts=3)
    results = yield context.task_all(
        [
            context.call_activity_with_retry(
                "flaky", options, {"key": f"{key}-a", "fail_times": 1}
            ),
            context.call_activity_with_retry(
                "flaky", options, {"key": f"{key}-b", "fail_times": 2}
            ),
            context.call_activity("double", 5),
        ]
    )
    last = yield context.call_activity("double", 1)
    return [*results, last]
