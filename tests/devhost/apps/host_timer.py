"""Fixture app for devhost timer tests: fires every second and once on startup."""

import threading

import azure.functions as func

app = func.FunctionApp()
FIRED: list[bool] = []
LOCK = threading.Lock()


@app.timer_trigger(arg_name="timer", schedule="* * * * * *", run_on_startup=True)
def every_second(timer: func.TimerRequest) -> None:
    with LOCK:
        FIRED.append(timer.past_due)
