"""Client benchmark: sealing a memorandum, and syncing with full verification.

1. Encrypt and sign a 1 MB memorandum for 50 recipients the way ``Client.post`` does (canonical body with
   its header binding, one age ciphertext, SHA-256, header signature), against the raw cost measured in
   the same run: ``pyrage.encrypt`` of the same 1 MB to the same 50 recipients plus one Ed25519 signature
   over it. Target ratio <= 1.2.
2. Sync a negotiation of N events (default 10,000, 1.7 KB ciphertext to 5 recipients each) from scratch
   with full verification (checkpoint signature, every event against the protocol core, every body
   decrypted, the Merkle root recomputed), then incrementally (100 new events). Target < 10 s from
   scratch. The baseline is the raw cost in the same run of what cannot be avoided: one Ed25519 verify
   and one age decryption per event.
3. Client peak memory: the sync from scratch runs in a child process that reports its peak RSS.

Usage: python bench/bench_client.py [--quick] [--json] [--events N]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import multiprocessing as mp
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyrage
from _common import build_events, emit_json, make_room, print_table, start_relay

from parley.client.profile import Profile
from parley.client.sdk import Client
from parley.crypto.keys import EncryptionKey, SigningKey, new_nonce
from parley.crypto.seal import seal_padded
from parley.protocol.events import Audience, CiphertextRef, Envelope, build_header, make_body, sign_header


def best_of(fn, repeat: int) -> float:  # noqa: ANN001
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench_seal(repeat: int) -> dict[str, Any]:
    recipients = [EncryptionKey.generate() for _ in range(50)]
    public = [r.recipient for r in recipients]
    author = SigningKey.generate()
    text = ("Position of the delegation on issue %d: " * 4 + "\n") * 1
    memo = {"title": "Memorandum", "issues": [{"issue": f"i{k}", "position": (text % (k, k, k, k)) * 31}
                                             for k in range(200)]}
    body_text = memo  # ~1 MB of JSON text
    header0 = build_header(nonce=new_nonce(), negotiation="n-bench0000", author=author.key_id, created=datetime.now(UTC),
                           audience=Audience(("p" * 32,)), prev="e" * 64)
    plaintext = make_body("memorandum.deliver", body_text, header0)
    size = len(plaintext)

    def parley_path() -> None:
        header = build_header(nonce=new_nonce(), negotiation="n-bench0000", author=author.key_id, created=datetime.now(UTC),
                              audience=Audience(("p" * 32,)), prev="e" * 64)
        blob = seal_padded(make_body("memorandum.deliver", body_text, header), public)
        ref = CiphertextRef(hashlib.sha256(blob).hexdigest(), tuple(f"{i:032x}" for i in range(50)))
        header = replace(header, ciphertexts=(ref,))
        Envelope(header, sign_header(author, header), (blob,)).to_json()

    raw_recipients = [pyrage.x25519.Recipient.from_str(p) for p in public]

    def raw_path() -> None:
        pyrage.encrypt(plaintext, raw_recipients)
        author.private.sign(plaintext)

    raw = best_of(raw_path, repeat)
    ours = best_of(parley_path, repeat)
    return {"plaintext_bytes": size, "recipients": 50, "parley_ms": round(ours * 1000, 1),
            "raw_ms": round(raw * 1000, 1), "ratio": round(ours / raw, 2)}


def _status_kib(field: str) -> int:
    line = next(ln for ln in Path("/proc/self/status").read_text().splitlines() if ln.startswith(field + ":"))
    return int(line.split()[1])


def _sync_child(profile: Profile, nid: str, queue: mp.Queue) -> None:
    """Forked: sync from scratch; report time and peak RSS (the peak is reset first)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    except OSError:
        pass
    rss0 = _status_kib("VmRSS")
    t0 = time.perf_counter()
    client = Client(profile)
    result = client.sync(nid)
    seconds = time.perf_counter() - t0
    peak = _status_kib("VmHWM")
    client.close()
    queue.put({"seconds": seconds, "events": result.new_events, "rss_before_mib": round(rss0 / 1024, 1),
               "peak_rss_mib": round(peak / 1024, 1), "peak_growth_mib": round((peak - rss0) / 1024, 1)})


def bench_sync(events: int, tmp: Path) -> dict[str, Any]:
    from parley.relay.app import Relay
    from parley.relay.server import RelayConfig, load_signer
    from parley.store.relay_store import open_store

    database = str(tmp / "relay.db")
    data = tmp / "relay"
    relay = start_relay(data, database)
    try:
        room = make_room(relay.url, database, tmp / "homes")
        # Seed the log through the relay's own write path (the Ingestor), without HTTP, to keep setup short.
        signer = load_signer(RelayConfig.from_options(data, database, "bench.relay"))
        seeder = Relay(open_store(database), signer, "bench.relay")
        t0 = time.perf_counter()
        for start in range(0, events, 2000):
            chunk = build_events(room, min(2000, events - start))
            futures = [seeder.ingestor.submit(env) for _, env in chunk]
            for f in futures:
                f.result(timeout=120)
        seed_seconds = time.perf_counter() - t0
        seeder.close()
        reader = room.clients[1]
        home = reader.profile.home
        reader.close()
        for name in ("cache.db", "cache.db-wal", "cache.db-shm"):
            (home / name).unlink(missing_ok=True)
        # from scratch, in a child process (peak memory)
        profile = reader.profile
        queue: mp.Queue = mp.get_context("fork").Queue()
        child = mp.get_context("fork").Process(target=_sync_child, args=(profile, room.negotiation_id, queue))
        child.start()
        scratch = queue.get(timeout=300)
        child.join(timeout=30)
        # incremental: 100 new events, then sync again (fresh Client: includes loading the cached state)
        more = build_events(room, 100)
        seeder = Relay(open_store(database), signer, "bench.relay")
        for f in [seeder.ingestor.submit(env) for _, env in more]:
            f.result(timeout=60)
        seeder.close()
        t0 = time.perf_counter()
        client = Client(profile)
        client.state(room.negotiation_id)
        load_seconds = time.perf_counter() - t0
        t1 = time.perf_counter()
        incremental = client.sync(room.negotiation_id)
        incremental_seconds = time.perf_counter() - t1
        client.close()
        # baseline: one Ed25519 verify and one age decryption per event, raw
        sample = build_events(room, 200)
        me = room.clients[2].identity
        identity = [pyrage.x25519.Identity.from_str(me.encryption.identity)]

        def raw() -> None:
            for author, env in sample:
                author.identity.signing.private.public_key().verify(
                    base64.b64decode(env.signature), env.header_bytes)
                pyrage.decrypt(env.ciphertexts[0], identity)

        raw_per_event = best_of(raw, 3) / len(sample)
        room.close()
    finally:
        relay.stop()
    return {"events": scratch["events"], "seed_seconds": round(seed_seconds, 1),
            "scratch_seconds": round(scratch["seconds"], 2),
            "scratch_events_per_s": round(scratch["events"] / scratch["seconds"]),
            "raw_floor_seconds": round(raw_per_event * scratch["events"], 2),
            "ratio_to_raw": round(scratch["seconds"] / (raw_per_event * scratch["events"]), 1),
            "peak_rss_mib": scratch["peak_rss_mib"], "peak_growth_mib": scratch["peak_growth_mib"],
            "state_load_seconds": round(load_seconds, 3), "incremental_events": incremental.new_events,
            "incremental_seconds": round(incremental_seconds, 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="under a minute")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument("--events", type=int, default=10_000, help="events in the negotiation to sync")
    args = parser.parse_args(argv)
    sealing = bench_seal(3 if args.quick else 7)
    tmp = Path(tempfile.mkdtemp(prefix="parley-bench-client-"))
    try:
        sync = bench_sync(args.events, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        emit_json("client", {"seal": sealing, "sync": sync}, [sys.argv[0], *(argv or sys.argv[1:])])
        return 0
    print_table("Encrypt and sign a memorandum (best of runs)",
                ["plaintext", "recipients", "parley ms", "pyrage+Ed25519 ms", "ratio (target <= 1.2)"],
                [[f"{sealing['plaintext_bytes']:,} B", 50, sealing["parley_ms"], sealing["raw_ms"], sealing["ratio"]]])
    print_table("Sync with full verification",
                ["events", "from scratch s", "events/s", "raw floor s", "ratio", "peak RSS MiB", "growth MiB",
                 "load cached state s", "incremental (100) s"],
                [[sync["events"], sync["scratch_seconds"], sync["scratch_events_per_s"], sync["raw_floor_seconds"],
                  sync["ratio_to_raw"], sync["peak_rss_mib"], sync["peak_growth_mib"], sync["state_load_seconds"],
                  sync["incremental_seconds"]]])
    return 0


if __name__ == "__main__":
    sys.exit(main())
