"""The seal_days orchestrator: the rescan window, oldest first, one small activity each."""

from __future__ import annotations

from datetime import date
from typing import Any

import azure.durable_functions as df
import pytest

from orchestrations import seal_day as module

pytestmark = pytest.mark.unit


class Context:
    def __init__(self, day: str) -> None:
        self.input = {"day": day}
        self.calls: list[tuple[str, Any]] = []

    def get_input(self) -> dict[str, Any]:
        return self.input

    def call_activity_with_retry(self, name: str, retry: Any, payload: Any) -> str:
        assert isinstance(retry, df.RetryOptions)
        self.calls.append((name, payload))
        return f"task-{len(self.calls)}"


def test_the_orchestrator_seals_the_rescan_window_oldest_first() -> None:
    context = Context("2026-11-27")
    steps = module.seal_steps(context)
    task = next(steps)
    results = []
    try:
        while True:
            outcome = {"day": context.calls[-1][1]["day"], "kind": "primary"}
            results.append(outcome)
            task = steps.send(outcome)
            assert task == f"task-{len(context.calls)}"
    except StopIteration as stop:
        assert stop.value == results
    days = [payload["day"] for _, payload in context.calls]
    assert days == [f"2026-11-{d}" for d in range(20, 28)]
    assert {name for name, _ in context.calls} == {module.SEAL_ACTIVITY}
    assert all(payload == {"day": payload["day"]} for _, payload in context.calls)


def test_instance_ids_are_one_per_day() -> None:
    assert module.seal_instance_id(date(2026, 11, 27)) == "seal-2026-11-27"
    assert module.days_to_seal(date(2026, 3, 1))[0] == "2026-02-22"


def test_the_app_registers_the_timer_orchestrator_and_activity() -> None:
    import function_app
    from devhost.discovery import describe

    # describe() shares get_functions() with other tests (it may run once per app).
    functions = {spec.name: spec for spec in describe(function_app.app)}
    assert {"seal_timer", module.SEAL_ORCHESTRATOR, module.SEAL_ACTIVITY} <= set(functions)
    assert functions["seal_timer"].trigger["schedule"] == "%SEAL_SCHEDULE%"
    assert functions["verify_timer"].trigger["schedule"] == "%VERIFY_SCHEDULE%"
    assert {"verify_archive_run", "verify_chain", "verify_sealed_day", "verify_older_sample",
            "write_verification_report"} <= set(functions)


def test_the_verification_run_checks_recent_days_fully_then_samples_older_ones() -> None:
    from orchestrations import verify_run

    context = Context("2026-11-28")
    steps = verify_run.verify_steps(context)
    next(steps)
    sealed = ["2026-10-01", "2026-11-19", "2026-11-20", "2026-11-27"]
    answers = iter([{"part": "seals", "sealed_days": sealed}, {"part": "day"}, {"part": "day"},
                    {"part": "older"}])
    try:
        while True:
            steps.send(next(answers, {"run": "verify-2026-11-28", "ok": True}))
    except StopIteration as stop:
        assert stop.value == {"run": "verify-2026-11-28", "ok": True}
    assert [(name, payload) for name, payload in context.calls] == [
        (verify_run.VERIFY_CHAIN, {"run_day": "2026-11-28"}),
        (verify_run.VERIFY_DAY, {"run_day": "2026-11-28", "day": "2026-11-20"}),
        (verify_run.VERIFY_DAY, {"run_day": "2026-11-28", "day": "2026-11-27"}),
        (verify_run.VERIFY_OLDER, {"run_day": "2026-11-28", "before": "2026-11-20"}),
        (verify_run.VERIFY_REPORT, {"run_day": "2026-11-28", "parts": [
            {"part": "seals", "sealed_days": sealed}, {"part": "day"}, {"part": "day"},
            {"part": "older"}]}),
    ]
