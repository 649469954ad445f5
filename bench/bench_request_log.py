"""What the relay's request log costs per request: the same app called in-process over ASGI (no sockets,
no client), with and without ``RequestLog`` (JSON lines to /dev/null), alternated, on ``GET /healthz``
(the cheapest route, so the log's share is as large as it gets) and, for scale, the relay's post of an
event in the same process.

Usage: python bench/bench_request_log.py [--requests 20000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path

from parley.crypto.keys import SigningKey
from parley.relay.app import Relay, create_app
from parley.relay.logs import RequestLog, configure_logging
from parley.store.relay_store import open_store
from parley.tlog.note import Signer


async def _call(app, scope: dict) -> None:  # noqa: ANN001
    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(_message: dict) -> None:
        return None

    await app(dict(scope), receive, send)


def _per_request_us(app, requests: int) -> float:  # noqa: ANN001
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": "/healthz", "raw_path": b"/healthz", "root_path": "", "query_string": b"",
             "headers": [(b"host", b"relay")], "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8470)}

    async def run() -> float:
        for _ in range(200):  # warm up
            await _call(app, scope)
        started = time.perf_counter()
        for _ in range(requests):
            await _call(app, scope)
        return (time.perf_counter() - started) / requests * 1e6

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, open(os.devnull, "w") as sink:
        configure_logging(json_lines=True, stream=sink)
        relay = Relay(open_store(str(Path(folder) / "relay.db")), Signer("bench.relay", SigningKey.generate().private),
                      "bench.relay")
        plain = create_app(relay)
        logged = create_app(relay)
        logged.add_middleware(RequestLog)
        without, with_log = [], []
        for _ in range(args.rounds):
            without.append(_per_request_us(plain, args.requests))
            with_log.append(_per_request_us(logged, args.requests))
        relay.close()
    logging.getLogger().handlers.clear()
    a, b = statistics.median(without), statistics.median(with_log)
    print(f"GET /healthz in-process, median of {args.rounds} rounds of {args.requests:,} requests:")
    print(f"  without the request log {a:7.1f} us/request")
    print(f"  with the request log    {b:7.1f} us/request   (+{b - a:.1f} us, {b / a:.2f}x)")
    print(f"  rounds without: {', '.join(f'{x:.1f}' for x in without)}; with: {', '.join(f'{x:.1f}' for x in with_log)}")


if __name__ == "__main__":
    main()
