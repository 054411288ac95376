"""Fixture app for devhost queue tests; queue names come from settings so tests isolate."""

import threading

import azure.functions as func

app = func.FunctionApp()


class Recorder:
    def __init__(self, parties: int = 1) -> None:
        self.lock = threading.Lock()
        self.calls: list[tuple[str, bytes, int]] = []
        self.running = 0
        self.max_running = 0
        self.barrier = threading.Barrier(parties, timeout=20)

    def enter(self, msg: func.QueueMessage) -> None:
        with self.lock:
            self.calls.append((str(msg.id), msg.get_body(), msg.dequeue_count or 0))
            self.running += 1
            self.max_running = max(self.max_running, self.running)

    def leave(self) -> None:
        with self.lock:
            self.running -= 1


BATCH = Recorder()
POISON = Recorder()


@app.queue_trigger(
    arg_name="msg", queue_name="%DEVHOST_BATCH_QUEUE%", connection="DEVHOST_TEST_STORAGE"
)
def batch(msg: func.QueueMessage) -> None:
    BATCH.enter(msg)
    try:
        # Passes only when a whole batch is being processed at the same time.
        BATCH.barrier.wait()
    finally:
        BATCH.leave()


@app.queue_trigger(
    arg_name="msg", queue_name="%DEVHOST_POISON_QUEUE%", connection="DEVHOST_TEST_STORAGE"
)
async def always_fails(msg: func.QueueMessage) -> None:
    POISON.enter(msg)
    POISON.leave()
    raise ValueError("cannot process this message")
