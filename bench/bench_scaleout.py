"""Scale-out benchmark: two relay processes (`parley relay serve`) on one PostgreSQL database.

Clients post pre-signed encrypted events (1.7 KB ciphertext, 5 recipients) to both processes at once,
half the connections each, while a member follows the live stream (SSE) on the second process. Checked:
every acknowledged event is stored at its sequence number, the log is gap-free, a client syncs and
verifies the whole log (Merkle root against the signed checkpoint), and the stream on process B saw the
final size (appends of process A reach it by LISTEN/NOTIFY). The baseline is one process, same load, same
run.

Usage: python bench/bench_scaleout.py [--quick] [--json] [--clients N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from _common import (
    LoadResult,
    _run_load,
    build_events,
    drop_postgres,
    emit_json,
    fresh_postgres,
    make_room,
    postgres_available,
    presign,
    print_table,
    run_async,
    start_relay,
    summarize,
)
from bench_relay import check_log

from parley.crypto.httpsig import sign_request


def follow_stream(url: str, room, after: int, stop: threading.Event,  # noqa: ANN001
                  seen: list[tuple[float, int]]) -> None:
    client = room.clients[1]
    request = httpx.Request("GET", f"{url}/v1/negotiations/{room.negotiation_id}/stream", params={"after": after})
    sign_request(request, key_id=client.identity.device_key_id, private_key=client.identity.signing.private)
    with httpx.Client(timeout=httpx.Timeout(10.0, read=2.0)) as http:
        deadline = time.monotonic() + 180
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                with http.stream("GET", request.url, headers=request.headers) as response:
                    for line in response.iter_lines():
                        if line.startswith("data: "):
                            seen.append((time.monotonic(), json.loads(line[6:])["size"]))
                        if stop.is_set() or time.monotonic() > deadline:
                            return
            except httpx.ReadTimeout:
                continue


async def _both(ports: list[int], requests: list[list[bytes]], clients: int) -> list[LoadResult]:
    return await asyncio.gather(*(_run_load(port, reqs, clients // len(ports), 120)
                                  for port, reqs in zip(ports, requests, strict=True)))


def run(processes: int, clients: int, events: int, tmp: Path) -> dict[str, Any]:
    database = fresh_postgres("parley_bench_scale")
    data = tmp / f"data-{processes}"
    relays = [start_relay(data, database)]
    relays += [start_relay(data, database) for _ in range(processes - 1)]
    try:
        room = make_room(relays[0].url, database, tmp / f"homes-{processes}")
        size0 = room.clients[0].conn.get(f"/v1/negotiations/{room.negotiation_id}/checkpoint")["size"]
        built = build_events(room, events)
        path = f"/v1/negotiations/{room.negotiation_id}/events"
        per_relay = [[presign(r.url, "POST", path, a, e.to_json()) for a, e in built[i::processes]]
                     for i, r in enumerate(relays)]
        stop = threading.Event()
        seen: list[tuple[float, int]] = []
        follower = threading.Thread(target=follow_stream, args=(relays[-1].url, room, size0 - 1, stop, seen), daemon=True)
        follower.start()
        time.sleep(0.5)
        t0 = time.perf_counter()
        results = run_async(_both([r.port for r in relays], per_relay, clients))
        seconds = time.perf_counter() - t0
        done = time.monotonic()
        final = size0 + sum(r.ok for r in results)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (seen and seen[-1][1] >= final):
            time.sleep(0.05)
        stop.set()
        follower.join(timeout=5)
        stream_final = seen[-1][1] if seen else 0
        lag_ms = round((next(t for t, s in seen if s >= final) - done) * 1000, 1) if stream_final >= final else None
        acks = [a for r in results for a in r.acks]
        check = check_log(database, room, acks)
        t1 = time.perf_counter()
        verified = room.clients[2].sync(room.negotiation_id)
        verify_seconds = time.perf_counter() - t1
        rows = [summarize(r) for r in results]
        room.close()
    finally:
        for r in relays:
            r.stop()
        drop_postgres("parley_bench_scale")
    latencies = [x for r in results for x in r.latencies_ms]
    from _common import percentile

    return {"processes": processes, "clients": clients, "events": sum(r.ok for r in results),
            "events_per_s": round(sum(r.ok for r in results) / seconds, 1),
            "p50_ms": round(percentile(latencies, 50), 1), "p99_ms": round(percentile(latencies, 99), 1),
            "per_process": rows, "lost": check["lost"], "gap_free": check["gap_free"], "size": check["size"],
            "client_verified_size": verified.size, "client_sync_s": round(verify_seconds, 2),
            "stream_saw_final": stream_final >= final, "stream_lag_ms": lag_ms,
            "errors": {k: v for r in results for k, v in r.errors.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="under a minute")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args(argv)
    if not postgres_available():
        print("PostgreSQL not reachable: nothing to measure", file=sys.stderr)
        return 0
    events = 1200 if args.quick else 6000
    with tempfile.TemporaryDirectory(prefix="parley-bench-scale-") as tmp:
        results = [run(1, args.clients, events, Path(tmp)), run(2, args.clients, events, Path(tmp))]
    if args.json:
        emit_json("scaleout", {"runs": results}, [sys.argv[0], *(argv or sys.argv[1:])])
        return 0
    print_table("Relay processes on one PostgreSQL (stream followed on the last process)",
                ["processes", "clients", "events", "events/s", "p50 ms", "p99 ms", "lost", "gap-free",
                 "client verified", "stream saw all", "stream lag ms", "errors"],
                [[r["processes"], r["clients"], r["events"], r["events_per_s"], r["p50_ms"], r["p99_ms"], r["lost"],
                  str(r["gap_free"]), f"{r['client_verified_size']}/{r['size']}", str(r["stream_saw_final"]),
                  r["stream_lag_ms"], ",".join(f"{k}={v}" for k, v in r["errors"].items()) or "none"]
                 for r in results])
    return 0


if __name__ == "__main__":
    sys.exit(main())
