"""Relay ingest benchmark: signed, encrypted events posted over loopback by 1, 8 and 32 concurrent clients.

Each event carries one age ciphertext of about 1.7 KB to 5 recipients (the heads of 5 parties), signed by
its author's device key; each request is signed per RFC 9421 with a fresh nonce. Envelopes and requests
are built and signed before the clock starts; a lean asyncio HTTP/1.1 client sends them over keep-alive
connections, one request in flight per client. The relay is `parley relay serve` in its own process, with
a per-device request rate that does not bind (`_common.BENCH_RATE_PER_DEVICE`).

Reported per database (SQLite WAL synchronous=FULL, PostgreSQL):
  - events/s, p50 and p99 latency at 1, 8 and 32 clients, and the mean group-commit batch;
  - the storage limit, measured in the same run: the same rows (events, ciphertexts, readers, nonces,
    log nodes, head) inserted directly through the store's write transaction, in batches of 64;
    the ratio relay/storage is the figure to watch;
  - bytes stored per event (whole database, and log nodes alone);
  - time to list the last 1,000 events of the negotiation (signed GET, JSON decoded: the median, the first
    listing, and the relay's own split of both from its Server-Timing header);
  - relay RSS (current and peak) after the 32-client load;
  - durability: every acknowledged event is in the log at its sequence number, the log is gap-free;
    then a crash run: the relay is SIGKILLed under load, reopened, and every event acknowledged
    before the kill must be there.

Usage: python bench/bench_relay.py [--quick] [--json] [--db sqlite,postgres] [--clients 1,8,32]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from _common import (
    LoadResult,
    Room,
    build_events,
    drop_postgres,
    emit_json,
    fresh_postgres,
    make_room,
    postgres_available,
    presign,
    print_table,
    run_load,
    start_relay,
    summarize,
)

from parley.client.transport import decode_answer
from parley.crypto.httpsig import sign_request
from parley.store.relay_store import open_store
from parley.tlog import merkle

CIPHERTEXT_BYTES = 1700


def check_log(database: str, room: Room, acks: list[dict]) -> dict[str, Any]:
    """Every acknowledged event is stored at its seq; seqs are 0..size-1 with no gap."""
    store = open_store(database)
    try:
        rows = store.events(room.negotiation_id, -1, 10**9, reader=None)
        head = store.head(room.negotiation_id)
    finally:
        store.close()
    by_seq = {r.seq: r.event_id for r in rows}
    lost = sum(1 for a in acks if by_seq.get(a["seq"]) != a["event_id"])
    gap_free = [r.seq for r in rows] == list(range(len(rows))) and head.size == len(rows)
    return {"acknowledged": len(acks), "lost": lost, "gap_free": gap_free, "size": head.size}


def direct_insert_rate(database: str, room: Room, envelopes: list, batch: int = 64) -> float:
    """The storage limit: the rows the relay writes per event, inserted straight through RelayStore.write()."""
    from parley.protocol.times import format_time

    store = open_store(database)
    nid = "n-direct-" + room.negotiation_id[2:]
    now = format_time(datetime.now(UTC))
    try:
        with store.write() as txn:
            txn.create_negotiation(nid, now)
        size = 0
        t0 = time.perf_counter()
        for start in range(0, len(envelopes), batch):
            chunk = envelopes[start:start + batch]
            with store.write() as txn:
                head = txn.lock_head(nid)
                rows, blobs, readers, leaves = [], [], [], []
                for i, (_author, env) in enumerate(chunk):
                    seq = head.size + i
                    leaf = merkle.leaf_hash(env.leaf_bytes())
                    rows.append({"seq": seq, "event_id": env.event_id, "header": env.header_bytes,
                                 "signature": env.signature, "received_at": now, "leaf_hash": leaf})
                    blobs.append({"seq": seq, "idx": 0, "blob": env.ciphertexts[0]})
                    readers.extend({"device_key_id": r, "seq": seq, "idx": 0}
                                   for r in env.header.ciphertexts[0].recipients)
                    leaves.append(leaf)
                txn.insert_events(nid, rows, blobs, readers)
                nodes = merkle.append_many(head.size, leaves, txn.node_reader(nid))
                txn.put_nodes(nid, nodes)
                size = head.size + len(chunk)
                txn.set_head(nid, size, b"\0" * 32, "note")
        seconds = time.perf_counter() - t0
    finally:
        store.close()
    return size / seconds


def storage_bytes(database: str) -> dict[str, Any]:
    """Bytes the database takes: ``total``, a few tables, and ``tables`` (each with its indexes)."""
    store = open_store(database)
    try:
        with store.engine.connect() as conn:
            if store.dialect == "sqlite":
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
                rows = conn.exec_driver_sql("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").all()
                owner = dict(conn.exec_driver_sql("SELECT name, tbl_name FROM sqlite_master").all())
                sizes: dict[str, int] = {}
                for name, size in rows:  # indexes belong to their table
                    table = owner.get(name, name)
                    sizes[table] = sizes.get(table, 0) + int(size)
            else:
                rows = conn.exec_driver_sql(
                    "SELECT relname, pg_total_relation_size(c.oid) FROM pg_class c JOIN pg_namespace n "
                    "ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind = 'r'").all()
                sizes = {name: int(size) for name, size in rows}
            return {"total": sum(sizes.values()), "tlog_nodes": sizes.get("tlog_nodes", 0),
                    "request_nonces": sizes.get("request_nonces", 0), "access_log": sizes.get("access_log", 0),
                    "tables": sizes}
    finally:
        store.close()


def list_last(relay_url: str, room: Room, count: int = 1000, tries: int = 7) -> dict[str, Any]:
    """Median ms to fetch (signed GET) the last ``count`` events as a member: until the whole body has
    arrived, and until it is also decoded as the client decodes it (``decode_answer``); the first try alone,
    decoded (the relay's page cache not yet holding these events: ``parley.relay.listing``); and the relay's
    own split of the first and of the median try, from its ``Server-Timing`` answer (admission, read,
    render, log: ms)."""
    client = room.clients[1]
    head = client.conn.get(f"/v1/negotiations/{room.negotiation_id}/checkpoint")
    after = max(-1, head["size"] - count - 1)
    received, decoded, splits = [], [], []
    # This process still holds the load runs' tens of thousands of signed requests and answers, which a
    # client does not: out of the collector's sight, or a full collection of them (100 ms and more) lands in
    # some listing's decoding.
    gc.collect()
    gc.freeze()
    with httpx.Client(base_url=relay_url, timeout=60) as http:
        for _ in range(tries):
            request = http.build_request("GET", f"/v1/negotiations/{room.negotiation_id}/events",
                                         params={"after": after, "limit": count})
            sign_request(request, key_id=client.identity.device_key_id, private_key=client.identity.signing.private)
            t0 = time.perf_counter()
            response = http.send(request)
            received.append((time.perf_counter() - t0) * 1000)
            page = decode_answer(response)  # as the client decodes it
            decoded.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200 and len(page["events"]) == min(count, head["size"]), response.text[:300]
            splits.append({name: float(duration) for name, duration in
                           (part.split(";dur=") for part in response.headers.get("server-timing", "").split(", ")
                            if ";dur=" in part)})
    gc.unfreeze()
    median_try = sorted(range(tries), key=lambda i: decoded[i])[tries // 2]
    return {"received": statistics.median(received), "decoded": statistics.median(decoded), "first": decoded[0],
            "first_split": splits[0], "median_split": splits[median_try]}


def presign_posts(relay_url: str, room: Room, events: list) -> list[bytes]:
    path = f"/v1/negotiations/{room.negotiation_id}/events"
    return [presign(relay_url, "POST", path, author, env.to_json()) for author, env in events]


def run_database(kind: str, levels: list[int], per_level: dict[int, int], tmp: Path, profile: bool,
                 workers: int = 1) -> dict[str, Any]:
    out: dict[str, Any] = {"database": kind, "workers": workers, "levels": []}
    if kind == "sqlite":
        database = str(tmp / f"relay-{workers}.db")
    else:
        database = fresh_postgres("parley_bench")
    relay = start_relay(tmp / f"data-{kind}-{workers}", database, workers=workers)
    spy = None
    try:
        room = make_room(relay.url, database, tmp / f"homes-{kind}")
        before = storage_bytes(database)
        events_before = room.clients[0].conn.get(f"/v1/negotiations/{room.negotiation_id}/checkpoint")["size"]
        all_acks: list[dict] = []
        batches0 = relay.metrics()
        for clients in levels:
            events = build_events(room, per_level[clients], CIPHERTEXT_BYTES)
            requests = presign_posts(relay.url, room, events)
            if profile and clients == max(levels):
                spy = _start_profiler(relay, Path(tempfile.gettempdir()) / f"parley-relay-profile-{kind}.txt")
            m0, cpu0, own0 = relay.metrics(), relay.cpu_seconds(), time.process_time()
            result: LoadResult = run_load(relay.port, requests, clients, time_limit=90)
            m1, cpu1, own1 = relay.metrics(), relay.cpu_seconds(), time.process_time()
            all_acks.extend(result.acks)
            row = summarize(result)
            accepted = m1["parley_events_accepted_total"] - m0["parley_events_accepted_total"]
            batches = m1["parley_commit_batches_total"] - m0["parley_commit_batches_total"]
            row["mean_batch"] = round(accepted / batches, 1) if batches else None
            row["relay_cpu"] = round((cpu1 - cpu0) / result.seconds, 2)  # cores busy in the relay process
            # CPU per event: steadier than events/s when the machine itself runs faster or slower
            row["relay_cpu_ms_per_event"] = round((cpu1 - cpu0) * 1000 / max(1, result.ok), 3)
            row["loadgen_cpu"] = round((own1 - own0) / result.seconds, 2)
            if clients == max(levels):
                rss, peak = relay.rss_kib()
                out["relay_rss_mib"] = round(rss / 1024, 1)
                out["relay_peak_rss_mib"] = round(peak / 1024, 1)
            out["levels"].append(row)
        if spy is not None:
            spy.wait(timeout=60)
        del batches0
        out["log_check"] = check_log(database, room, all_acks)
        # Storage first: the listings below write access-log rows, counted apart (per ciphertext fetched).
        after = storage_bytes(database)
        listing = list_last(relay.url, room)
        out["list_last_1000_ms"] = round(listing["decoded"], 1)
        out["list_last_1000_received_ms"] = round(listing["received"], 1)
        out["list_last_1000_first_ms"] = round(listing["first"], 1)
        out["list_last_1000_relay_split_ms"] = {"first": listing["first_split"], "median": listing["median_split"]}
        listed = storage_bytes(database)
        n = out["log_check"]["size"] - events_before
        fetched = 7 * min(1000, out["log_check"]["size"])
        out["access_log_bytes_per_fetch"] = round((listed["access_log"] - after["access_log"]) / fetched)
        out["bytes_per_event"] = round((after["total"] - before["total"]) / n)
        out["log_node_bytes_per_event"] = round((after["tlog_nodes"] - before["tlog_nodes"]) / n)
        out["nonce_bytes_per_event"] = round((after["request_nonces"] - before["request_nonces"]) / n)
        out["access_log_bytes"] = after["access_log"]
        direct_events = build_events(room, min(2000, max(per_level.values())), CIPHERTEXT_BYTES)
        out["storage_limit_events_per_s"] = round(direct_insert_rate(database, room, direct_events), 1)
        out["ciphertext_bytes"] = len(direct_events[0][1].ciphertexts[0])
        room.close()
    finally:
        relay.stop()
    out["crash"] = crash_run(kind, tmp, per_level[max(levels)], workers)
    if kind == "postgres":
        drop_postgres("parley_bench")
    return out


def crash_run(kind: str, tmp: Path, count: int, workers: int = 1) -> dict[str, Any]:
    """SIGKILL the relay (with --workers: the writer process) under an 8-client load; every event
    acknowledged before the kill must survive."""
    if kind == "sqlite":
        database = str(tmp / f"crash-{workers}.db")
    else:
        database = fresh_postgres("parley_bench_crash")
    relay = start_relay(tmp / f"crash-{kind}-{workers}", database, workers=workers)
    try:
        room = make_room(relay.url, database, tmp / f"crash-homes-{kind}")
        events = build_events(room, count, CIPHERTEXT_BYTES)
        requests = presign_posts(relay.url, room, events)
        killer = threading.Timer(0.6, relay.kill)
        killer.start()
        result = run_load(relay.port, requests, 8, time_limit=30)
        killer.join()
    finally:
        relay.kill()
    check = check_log(database, room, result.acks)
    room.close()
    if kind == "postgres":
        drop_postgres("parley_bench_crash")
    return {"acknowledged_before_kill": check["acknowledged"], "lost": check["lost"], "gap_free": check["gap_free"],
            "stored": check["size"]}


def _start_profiler(relay, path: Path):  # noqa: ANN001, ANN202
    import shutil
    import subprocess

    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    return subprocess.Popen([spy, "record", "-p", str(relay.proc.pid), "-d", "6", "-r", "400", "--gil", "-o", str(path),
                             "-f", "raw",
                             "--threads", "--subprocesses", "--nonblocking"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer events, under a minute")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument("--db", default="sqlite,postgres", help="databases to run: sqlite,postgres")
    parser.add_argument("--clients", default="1,8,32", help="concurrency levels")
    parser.add_argument("--profile", action="store_true", help="py-spy flame graph of the relay at the top level")
    parser.add_argument("--workers", default="1", help="relay worker processes (parley relay serve --workers), e.g. 1,2")
    args = parser.parse_args(argv)
    levels = [int(c) for c in args.clients.split(",")]
    if args.quick:
        per_level = {c: (200 if c == 1 else 1500) for c in levels}
    else:
        per_level = {c: (1000 if c == 1 else 6000) for c in levels}
    kinds = [k.strip() for k in args.db.split(",") if k.strip()]
    if "postgres" in kinds and not postgres_available():
        print("PostgreSQL not reachable: skipping it", file=sys.stderr)
        kinds.remove("postgres")
    results = []
    with tempfile.TemporaryDirectory(prefix="parley-bench-relay-") as tmp:
        for kind in kinds:
            for workers in [int(w) for w in args.workers.split(",")]:
                results.append(run_database(kind, levels, per_level, Path(tmp), args.profile, workers))
    if args.json:
        emit_json("relay_ingest", {"databases": results}, [sys.argv[0], *(argv or sys.argv[1:])])
        return 0
    rows = []
    for r in results:
        for lv in r["levels"]:
            rows.append([r["database"], r["workers"], lv["clients"], lv["events"], lv["events_per_s"], lv["p50_ms"], lv["p99_ms"],
                         lv["mean_batch"], lv["relay_cpu"], lv["relay_cpu_ms_per_event"], lv["loadgen_cpu"],
                         r["storage_limit_events_per_s"],
                         f"{lv['events_per_s'] / r['storage_limit_events_per_s']:.2f}",
                         ",".join(f"{k}={v}" for k, v in lv["errors"].items()) or "none"])
    size = results[0]["ciphertext_bytes"] if results else 0
    print_table(f"Relay ingest over loopback (events of {size} B ciphertext, 5 recipients)",
                ["db", "workers", "clients", "events", "events/s", "p50 ms", "p99 ms", "batch", "relay cpu", "relay cpu ms/event", "client cpu",
                 "storage limit/s",
                 "ratio", "errors"], rows)
    rows = [[r["database"], r["workers"], r["bytes_per_event"], r["log_node_bytes_per_event"], r["nonce_bytes_per_event"],
             f"{r['list_last_1000_received_ms']} / {r['list_last_1000_ms']} / {r['list_last_1000_first_ms']}",
             r["access_log_bytes_per_fetch"],
             r["relay_rss_mib"], r["relay_peak_rss_mib"],
             f"{r['log_check']['lost']} lost / {r['log_check']['acknowledged']}, gap-free={r['log_check']['gap_free']}",
             f"{r['crash']['lost']} lost / {r['crash']['acknowledged_before_kill']}, "
             f"gap-free={r['crash']['gap_free']}"] for r in results]
    print_table("Storage, listing, memory, durability",
                ["db", "workers", "bytes/event", "log nodes B/event", "nonce B/event",
                 "list 1000 ms received / decoded / first decoded",
                 "access log B/fetch", "RSS MiB",
                 "peak RSS MiB", "acknowledged events", "SIGKILL under load"], rows)

    def split(timings: dict[str, float]) -> str:
        return " / ".join(f"{timings.get(name, float('nan')):.1f}" for name in ("admission", "read", "render", "log"))

    rows = [[r["database"], r["workers"], split(r["list_last_1000_relay_split_ms"]["first"]),
             split(r["list_last_1000_relay_split_ms"]["median"])] for r in results]
    print_table("Listing 1,000 events: the relay's own time (Server-Timing), ms",
                ["db", "workers", "first: admission / read / render / log", "median: admission / read / render / log"],
                rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
