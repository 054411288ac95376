"""Orchestration throughput of devhost's Durable backend, beside raw Azurite table writes.

    .venv/bin/python -m bench.orchestration_throughput [--orchestrations 200] [--concurrency 10]

Starts its own Azurite (temp folder), runs N one-activity orchestrations through
DurableRuntime, then measures single-row `upsert_entity` calls at the same
concurrency in the same run, and prints both rates and their ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient

from devhost.azurite import Azurite
from devhost.discovery import describe
from devhost.durable import DurableRuntime
from devhost.durable.store import HISTORY, instance_filter

bench_app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@bench_app.orchestration_trigger(context_name="context")
def one_step(context: df.DurableOrchestrationContext):
    result = yield context.call_activity("echo", context.get_input())
    return result


@bench_app.activity_trigger(input_name="value")
def echo(value: int) -> int:
    return value


async def run_orchestrations(conn: str, count: int, concurrency: int) -> tuple[float, int]:
    hub = "bench" + uuid.uuid4().hex[:8]
    runtime = DurableRuntime(
        specs=describe(bench_app),
        connection_string=conn,
        hub_name=hub,
        rpc_base_url="http://127.0.0.1:9/durabletask/",
        max_concurrent_activities=concurrency,
        max_concurrent_orchestrators=concurrency,
    )
    await runtime.start()
    done_filter = instance_filter(statuses=["Completed"])
    started = time.perf_counter()
    slots = asyncio.Semaphore(concurrency)

    async def start(i: int) -> None:
        async with slots:
            await runtime.start_instance("one_step", f"bench-{i}", str(i))

    await asyncio.gather(*(start(i) for i in range(count)))
    while True:
        if not runtime.unfinished:
            break
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - started
    completed = await runtime.store.query_instances(done_filter)
    if len(completed) != count:
        raise SystemExit(f"only {len(completed)} of {count} orchestrations completed")
    history_rows = 0
    # One table: history rows are the "h." RowKeys beside each instance row.
    async for entity in runtime.store.table.list_entities(select=["RowKey"]):
        history_rows += str(entity["RowKey"]).startswith(HISTORY)
    await runtime.stop()
    return count / elapsed, history_rows // count


async def raw_upserts(conn: str, count: int, concurrency: int) -> float:
    client = TableClient.from_connection_string(conn, table_name="raw" + uuid.uuid4().hex[:8])
    await client.create_table()
    slots = asyncio.Semaphore(concurrency)

    async def write(i: int) -> None:
        async with slots:
            entity = {"PartitionKey": f"p{i}", "RowKey": "", "Value": "x" * 200}
            await client.upsert_entity(entity, mode=UpdateMode.REPLACE)

    started = time.perf_counter()
    await asyncio.gather(*(write(i) for i in range(count)))
    elapsed = time.perf_counter() - started
    await client.close()
    return count / elapsed


async def main_async(count: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        azurite = Azurite(Path(folder) / "azurite")
        azurite.start()
        try:
            conn = azurite.connection_string
            await raw_upserts(conn, 50, concurrency)  # warm-up: connections, table service
            orchestrations, rows = await run_orchestrations(conn, count, concurrency)
            writes = await raw_upserts(conn, count * 5, concurrency)
        finally:
            azurite.stop()
    print(f"orchestrations (1 activity each): {count}, concurrency {concurrency}")
    print(f"devhost durable: {orchestrations:8.1f} orchestrations/s ({rows} history rows each)")
    print(f"raw Azurite:     {writes:8.1f} single-row upserts/s")
    print(f"ratio:           {writes / orchestrations:8.1f} (raw upserts/s per orchestration/s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orchestrations", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(main_async(args.orchestrations, args.concurrency))


if __name__ == "__main__":
    main()
