"""Benchmark of the parley transparency log (parley.tlog.merkle) on its storage backends.

Appends N leaves (default 1,000,000; --quick: 100,000) to each backend and reports the cost of one
append around 10^3, 10^5 and 10^6 leaves (a window of 1000 appends ending at that size), then the
mean cost of generating and verifying 1000 random inclusion and consistency proofs read from the
store at the final size. The baseline is SHA-256 of one leaf, measured in the same run.

Backends:
  memory    MemoryNodeStore, once with append_nodes (one leaf per call), once with append_many
  sqlite    table nodes(level, idx, hash) WITHOUT ROWID in a temporary file, WAL; append_many per
            batch of 1000 leaves, one SELECT + one executemany + one commit per batch
  postgres  the same with psycopg 3 and a TEMP table, if PARLEY_BENCH_DATABASE_URL or
            PARLEY_TEST_DATABASE_URL is set

Usage: python bench/bench_tlog.py [--quick] [--json] [--leaves N] [--backends memory,sqlite,postgres]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from parley.tlog import merkle

WINDOW = 1000
BATCH = 1000
LEAF_BYTES = 256  # roughly an event header with its signature
POINTS = (10**3, 10**5, 10**6)

NodeKey = tuple[int, int]


def leaf_input(index: int) -> bytes:
    # Cheap, distinct leaf inputs of realistic length; generating them is not part of an append.
    return index.to_bytes(8, "big") * (LEAF_BYTES // 8)


# --------------------------------------------------------------------------------------- stores


class SQLiteStore:
    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(
            "CREATE TABLE nodes (level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,"
            " PRIMARY KEY (level, idx)) WITHOUT ROWID"
        )

    def get_nodes(self, keys: Sequence[NodeKey]) -> Mapping[NodeKey, bytes]:
        if not keys:
            return {}
        # A join on VALUES probes the primary key once per key; "(level, idx) IN (VALUES ...)"
        # would make SQLite 3.40 scan the whole table (EXPLAIN QUERY PLAN: SCAN nodes).
        values = ",".join("(?,?)" for _ in keys)
        params = [part for key in keys for part in key]
        rows = self.db.execute(
            f"SELECT n.level, n.idx, n.hash FROM (VALUES {values}) AS k"
            " JOIN nodes AS n ON n.level = k.column1 AND n.idx = k.column2",
            params,
        )
        return {(level, idx): digest for level, idx, digest in rows}

    def put_batch(self, nodes: list[merkle.Node]) -> None:
        self.db.execute("BEGIN")
        self.db.executemany("INSERT INTO nodes (level, idx, hash) VALUES (?, ?, ?)", nodes)
        self.db.execute("COMMIT")

    def close(self) -> None:
        self.db.close()


class PostgresStore:
    def __init__(self, url: str) -> None:
        import psycopg  # optional: only needed when a database URL is given

        # Autocommit: a read is one round trip; each batch of appends is an explicit transaction.
        self.db = psycopg.connect(url, autocommit=True)
        self.db.execute(
            "CREATE TEMP TABLE tlog_bench_nodes (level smallint NOT NULL, idx bigint NOT NULL,"
            " hash bytea NOT NULL, PRIMARY KEY (level, idx))"
        )

    def get_nodes(self, keys: Sequence[NodeKey]) -> Mapping[NodeKey, bytes]:
        if not keys:
            return {}
        rows = self.db.execute(
            "SELECT n.level, n.idx, n.hash FROM unnest(%s::smallint[], %s::bigint[]) AS k(level, idx)"
            " JOIN tlog_bench_nodes AS n USING (level, idx)",
            ([level for level, _ in keys], [idx for _, idx in keys]),
        ).fetchall()
        return {(level, idx): bytes(digest) for level, idx, digest in rows}

    def put_batch(self, nodes: list[merkle.Node]) -> None:
        with self.db.transaction(), self.db.cursor() as cursor:
            cursor.executemany("INSERT INTO tlog_bench_nodes (level, idx, hash) VALUES (%s, %s, %s)", nodes)

    def close(self) -> None:
        self.db.close()


class MemoryBatchStore(merkle.MemoryNodeStore):
    def put_batch(self, nodes: list[merkle.Node]) -> None:
        self.put(nodes)

    def close(self) -> None:
        pass


# ------------------------------------------------------------------------------------ measuring


def per_append_single(store: merkle.MemoryNodeStore, total: int, points: Sequence[int]) -> dict[int, float]:
    """Append one leaf per call; time the WINDOW appends that end at each point (µs per append)."""
    timings: dict[int, float] = {}
    window_starts = {point - WINDOW: point for point in points}
    started = 0.0
    end_of_window = -1
    for size in range(total):
        if size in window_starts:
            end_of_window, started = window_starts[size], time.perf_counter()
        data = leaf_input(size)
        store.put(merkle.append_nodes(size, merkle.leaf_hash(data), store))
        if size + 1 == end_of_window:
            timings[end_of_window] = (time.perf_counter() - started) / WINDOW * 1e6
    return timings


def per_append_batched(store, total: int, points: Sequence[int]) -> dict[int, float]:  # noqa: ANN001
    """append_many in batches of BATCH leaves, stored with one put_batch (one transaction) each."""
    timings: dict[int, float] = {}
    for size in range(0, total, BATCH):
        count = min(BATCH, total - size)
        inputs = [leaf_input(size + i) for i in range(count)]
        started = time.perf_counter()
        nodes = merkle.append_many(size, [merkle.leaf_hash(data) for data in inputs], store)
        store.put_batch(nodes)
        elapsed = time.perf_counter() - started
        if size + count in points:
            timings[size + count] = elapsed / count * 1e6
    return timings


def proof_timings(reader: merkle.NodeReader, size: int, samples: int, rng: random.Random) -> dict[str, float]:
    """Mean µs to generate (from the store) and verify random inclusion and consistency proofs."""
    root = merkle.root_from_nodes(size, reader)
    indexes = [rng.randrange(size) for _ in range(samples)]
    leaves = [merkle.leaf_hash(leaf_input(index)) for index in indexes]
    started = time.perf_counter()
    proofs = [merkle.inclusion_proof(index, size, reader) for index in indexes]
    inclusion_gen = time.perf_counter() - started
    started = time.perf_counter()
    for index, leaf, proof in zip(indexes, leaves, proofs, strict=True):
        merkle.verify_inclusion(leaf, index, size, proof, root)
    inclusion_verify = time.perf_counter() - started

    old_sizes = [rng.randrange(1, size) for _ in range(samples)]
    old_roots = [merkle.root_from_nodes(old, reader) for old in old_sizes]
    started = time.perf_counter()
    consistency = [merkle.consistency_proof(old, size, reader) for old in old_sizes]
    consistency_gen = time.perf_counter() - started
    started = time.perf_counter()
    for old, old_root, proof in zip(old_sizes, old_roots, consistency, strict=True):
        merkle.verify_consistency(old, size, proof, old_root, root)
    consistency_verify = time.perf_counter() - started
    per = 1e6 / samples
    return {
        "inclusion_generate_us": inclusion_gen * per,
        "inclusion_verify_us": inclusion_verify * per,
        "consistency_generate_us": consistency_gen * per,
        "consistency_verify_us": consistency_verify * per,
    }


def sha256_baseline_us(rounds: int = 200_000) -> float:
    data = leaf_input(123456)
    started = time.perf_counter()
    for _ in range(rounds):
        hashlib.sha256(b"\x00" + data).digest()
    return (time.perf_counter() - started) / rounds * 1e6


@contextmanager
def open_store(backend: str, tmp: Path) -> Iterator:
    store = {
        "memory": MemoryBatchStore,
        "sqlite": lambda: SQLiteStore(tmp / "nodes.sqlite3"),
        "postgres": lambda: PostgresStore(database_url() or ""),
    }[backend]()
    try:
        yield store
    finally:
        store.close()


def database_url() -> str | None:
    return os.environ.get("PARLEY_BENCH_DATABASE_URL") or os.environ.get("PARLEY_TEST_DATABASE_URL")


def run(total: int, backends: Sequence[str], samples: int, log: Callable[[str], None]) -> dict:
    points = [point for point in POINTS if point <= total]
    rng = random.Random(9162)
    results: dict = {
        "leaves": total,
        "leaf_bytes": LEAF_BYTES,
        "window": WINDOW,
        "batch": BATCH,
        "proof_samples": samples,
        "sha256_leaf_us": sha256_baseline_us(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()},"
        f" SQLite {sqlite3.sqlite_version}",
        "appends": [],
        "proofs": [],
    }
    if "memory" in backends:
        log("memory: append_nodes, one leaf per call ...")
        store = merkle.MemoryNodeStore()
        started = time.perf_counter()
        timings = per_append_single(store, total, points)
        results["appends"].append(_append_row("memory", "append_nodes, 1 leaf/call", timings, started))
    with tempfile.TemporaryDirectory(prefix="bench-tlog-") as tmp:
        for backend in backends:
            if backend == "postgres" and not database_url():
                log("postgres: skipped (set PARLEY_BENCH_DATABASE_URL)")
                continue
            log(f"{backend}: append_many, {BATCH} leaves/batch ...")
            with open_store(backend, Path(tmp)) as store:
                started = time.perf_counter()
                timings = per_append_batched(store, total, points)
                mode = f"append_many, {BATCH}/batch" + ("" if backend == "memory" else ", 1 txn/batch")
                results["appends"].append(_append_row(backend, mode, timings, started))
                log(f"{backend}: {samples} proofs at {total} leaves ...")
                results["proofs"].append({"backend": backend, **proof_timings(store, total, samples, rng)})
    for row in results["appends"]:
        row["ratio_to_sha256"] = {p: us / results["sha256_leaf_us"] for p, us in row["us_per_append"].items()}
    return results


def _append_row(backend: str, mode: str, timings: dict[int, float], started: float) -> dict:
    return {
        "backend": backend,
        "mode": mode,
        "us_per_append": dict(sorted(timings.items())),
        "total_seconds": time.perf_counter() - started,
    }


def render(results: dict) -> str:
    points = [p for p in POINTS if p <= results["leaves"]]
    head = "".join(f"{'@' + _short(p):>10}" for p in points)
    lines = [
        f"parley tlog benchmark: {results['leaves']:,} leaves of {results['leaf_bytes']} bytes; {results['machine']}",
        f"baseline sha256(0x00 || leaf): {results['sha256_leaf_us']:.2f} µs",
        "",
        f"{'append (µs per leaf)':<48}{head}{'x sha256':>10}{'total s':>9}",
    ]
    for row in results["appends"]:
        cells = "".join(f"{row['us_per_append'].get(p, float('nan')):>10.2f}" for p in points)
        ratio = row["ratio_to_sha256"].get(points[-1], float("nan"))
        lines.append(f"{row['backend'] + ': ' + row['mode']:<48}{cells}{ratio:>10.1f}{row['total_seconds']:>9.1f}")
    lines += [
        "",
        f"proofs at {_short(results['leaves'])} leaves, mean of {results['proof_samples']} (µs)"
        f"{'':<8}{'incl gen':>10}{'incl ver':>10}{'cons gen':>10}{'cons ver':>10}",
    ]
    for row in results["proofs"]:
        lines.append(
            f"{row['backend']:<48}{row['inclusion_generate_us']:>10.1f}{row['inclusion_verify_us']:>10.1f}"
            f"{row['consistency_generate_us']:>10.1f}{row['consistency_verify_us']:>10.1f}"
        )
    return "\n".join(lines)


def _short(n: int) -> str:
    exponent = len(str(n)) - 1
    return f"1e{exponent}" if n == 10**exponent else f"{n:,}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 leaves (under a minute)")
    parser.add_argument("--leaves", type=int, help="number of leaves (default 1,000,000)")
    parser.add_argument("--backends", default="memory,sqlite,postgres", help="comma-separated list")
    parser.add_argument("--proofs", type=int, default=1000, help="random proofs per kind")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    total = args.leaves or (100_000 if args.quick else 1_000_000)
    if total < WINDOW:
        parser.error(f"--leaves must be at least {WINDOW}")
    backends = [name.strip() for name in args.backends.split(",") if name.strip()]
    unknown = set(backends) - {"memory", "sqlite", "postgres"}
    if unknown:
        parser.error(f"unknown backends: {', '.join(sorted(unknown))}")

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    results = run(total, backends, args.proofs, log)
    print(json.dumps(results, indent=2) if args.json else render(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
