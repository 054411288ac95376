"""Load with verification: N signed webhooks through devhost, then prove nothing was lost.

    .venv/bin/python -m bench.load [--webhooks 5000] [--rate 250] [--concurrency 32]

Starts its own Azurite (temp folder, free loopback ports), the Graph media stand-in and
`python -m devhost` with the repo's host.json; sends the mix from bench/load_workload.py
(text, media, multi-message webhooks, out-of-order statuses, 10% exact duplicates)
at the target rate, retrying 503s as Meta would; waits until the archive holds every
event, verifies it against the set sent (bench/verify_archive.py) and prints
throughput, webhook latency percentiles and the time until the archive was complete.
Exit code 0 only when verification passed. Everything is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.load_sender import SendStats, send_all
from bench.load_stack import LoadStack
from bench.load_workload import build_workload
from bench.verify_archive import Verdict, wait_for_archive


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--webhooks", type=int, default=5000, help="deliveries to send")
    parser.add_argument("--rate", type=float, default=250.0,
                        help="target webhooks/s (0: as fast as the concurrency allows)")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight at most")
    parser.add_argument("--seed", type=int, default=7, help="workload seed")
    parser.add_argument("--timeout", type=float, default=900.0,
                        help="seconds to wait for the archive after sending")
    parser.add_argument("--keep", action="store_true", help="keep the temp folder (logs, data)")
    return parser


def report(args: argparse.Namespace, stats: SendStats, verdict: Verdict, complete: float,
           events: int) -> str:
    ms = {p: stats.percentile(p) * 1000 for p in (50, 95, 99)}
    retried = ", ".join(f"{k}x{v}" for k, v in sorted(stats.statuses.items()) if k != "200")
    lines = [
        f"bench.load  {datetime.now(UTC):%Y-%m-%dT%H:%MZ}  cpus={os.cpu_count()}  "
        f"webhooks={stats.deliveries} rate={args.rate:g}/s concurrency={args.concurrency}",
        f"sent       {stats.deliveries} deliveries ({events} distinct events) in "
        f"{stats.elapsed:.1f}s = {stats.deliveries / stats.elapsed:.0f} webhooks/s accepted; "
        f"attempts={stats.attempts} non-200={retried or 'none'}",
        f"latency    webhook 200s: p50 {ms[50]:.0f} ms  p95 {ms[95]:.0f} ms  p99 {ms[99]:.0f} ms",
        f"archive    complete {complete:.1f}s after the first send = "
        f"{events / complete:.0f} events/s end to end",
        verdict.summary(),
    ]
    lines += [f"  PROBLEM {p}" for p in verdict.problems]
    return "\n".join(lines)


def run(args: argparse.Namespace, workdir: Path) -> int:
    workload = build_workload(args.webhooks, seed=args.seed)
    with LoadStack(workdir) as stack:
        stack.serve(workload)
        print(f"stack ready: {stack.webhook_url} (data in {workdir})", file=sys.stderr)
        began = time.monotonic()
        stats = asyncio.run(send_all(stack.webhook_url, workload.deliveries, rate=args.rate,
                                     concurrency=args.concurrency))
        print(f"sent {stats.accepted}/{stats.deliveries} in {stats.elapsed:.1f}s "
              f"(p50 {stats.percentile(50) * 1000:.0f} ms, p99 "
              f"{stats.percentile(99) * 1000:.0f} ms); waiting for the archive",
              file=sys.stderr)
        last = [0.0]

        def progress(archived: int, expected: int) -> None:
            if time.monotonic() - last[0] >= 15:
                last[0] = time.monotonic()
                print(f"  {time.monotonic() - began:5.0f}s  {archived}/{expected} events "
                      "archived", file=sys.stderr)

        verdict, complete = wait_for_archive(stack.conn, workload, timeout=args.timeout,
                                             poll=2.0, since=began, progress=progress)
    print(report(args, stats, verdict, complete, verdict.expected_events))
    return 0 if verdict.ok and stats.accepted == stats.deliveries else 1


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # SIGTERM (e.g. from `timeout`) unwinds like Ctrl-C, so Azurite and devhost are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = Path(tempfile.mkdtemp(prefix="wa-load-"))
    try:
        return run(args, workdir)
    finally:
        if args.keep:
            print(f"kept {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
