"""``parley zopa`` benchmark: time and bytes of a blind deal-zone check between two parties, 32-bit values.

1. The comparison core (``parley.crypto.comparison``: DGK/Veugen on 2048-bit Paillier), step by step:
   A's key generation and encrypted bits, B's blinded answer, A's zero test; wire sizes of each message.
2. A whole check end to end between two in-process clients on an in-process relay (SQLite): open,
   both commits, both reveals, each call syncing with full verification; the bytes the relay stored
   for it (headers and age ciphertexts). Baseline in the same run: the same number of plain text
   messages between the same clients (what five ordinary events cost), so the ratio is the price of the
   cryptography, not of the event machinery.

Usage: python bench/bench_zopa.py [--runs N] [--json]
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import emit_json, print_table

from parley.client.sdk import Client
from parley.client.transport import InProcessTransport
from parley.client.workflow import Negotiation
from parley.client.zopa import ZopaDesk
from parley.crypto import comparison as cmp
from parley.crypto.keys import SigningKey
from parley.relay.app import Relay, create_app
from parley.store.relay_store import open_store
from parley.tlog.note import Signer


def bench_core(runs: int) -> dict:
    steps: dict[str, list[float]] = {"A: key generation": [], "A: encrypt 33 bits": [], "B: blinded answer": [],
                                     "A: zero test": []}
    sizes = {}
    for _ in range(runs):
        x, y = cmp.encode_bound(secrets.randbelow(2**32), cmp.AT_LEAST), cmp.encode_bound(secrets.randbelow(2**32), cmp.AT_MOST)
        t0 = time.perf_counter()
        key = cmp.ComparisonKey.generate()
        t1 = time.perf_counter()
        bits = cmp.encrypt_bits(key, x)
        t2 = time.perf_counter()
        blinded, share_b = cmp.blind_comparison(key.public, bits, y)
        t3 = time.perf_counter()
        share_a = cmp.zero_share(key, blinded)
        t4 = time.perf_counter()
        if cmp.greater_than(share_a, share_b) != (x > y):
            raise SystemExit("the comparison gave a wrong answer")
        for name, took in zip(steps, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
            steps[name].append(took * 1000)
        sizes = {"A -> B (key + 33 ciphertexts)": len(json.dumps({"key": key.public_b64(),
                                                                    "bits": cmp.ciphertexts_to_b64(key.public, bits)})),
                 "B -> A (33 ciphertexts)": len(json.dumps(cmp.ciphertexts_to_b64(key.public, blinded))),
                 "each reveal (one share)": len(json.dumps({"shares": {"p" * 64: 1}}))}
    medians = {name: statistics.median(values) for name, values in steps.items()}
    return {"runs": runs, "steps_ms": medians, "total_ms": sum(medians.values()), "message_bytes": sizes}


def _world(tmp: Path):
    relay = Relay(open_store(str(tmp / "relay.db")), Signer("bench.relay", SigningKey.generate().private), "bench.relay")
    transport = InProcessTransport(create_app(relay))
    clients = []
    for name in ("Ukraine", "Russian Federation"):
        token = relay.store.create_enrol_token(name, "2030-01-01T00:00:00Z")
        clients.append(Client.create_party(tmp / name.replace(" ", "_"), relay_url="http://relay", party_name=name,
                                           member="Head", token=token, passphrase=None, transport=transport))
    a, b = clients
    a.profile.pin(b.profile.party, verified=True)
    b.profile.pin(a.profile.party, verified=True)
    nid = a.create_negotiation()
    a.invite(nid, b.profile.party.party_id)
    b.join(nid)
    a.sync(nid)
    Negotiation(a, nid).add_issue("Prisoner exchange ratio", "prisoners")
    b.sync(nid)
    return relay, transport, a, b, nid


def _stored_bytes(relay: Relay, nid: str, after: int) -> int:
    rows = relay.store.events(nid, after, 10_000, reader=None)
    return sum(len(r.header) + len(r.signature) + sum(len(c) for c in r.ciphertexts.values()) for r in rows)


def bench_end_to_end(runs: int) -> dict:
    checks, plain, stored_check, stored_plain = [], [], [], []
    for run in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            relay, transport, a, b, nid = _world(Path(tmp))
            ua, ru = ZopaDesk(Negotiation(a, nid)), ZopaDesk(Negotiation(b, nid))
            before = a.cache.last_seq(nid)
            t0 = time.perf_counter()
            check = ua.open("prisoners", ["Russian Federation"])
            ua.commit(check, secrets.randbelow(2**32), cmp.AT_LEAST)
            ru.commit(check, secrets.randbelow(2**32), cmp.AT_MOST)
            outcome = ua.advance(check)["status"]
            took = time.perf_counter() - t0
            if outcome not in ("overlap", "no-overlap"):
                raise SystemExit(f"the check did not finish: {outcome}")
            stored_check.append(_stored_bytes(relay, nid, before))
            checks.append(took * 1000)
            before = a.cache.last_seq(nid)
            t0 = time.perf_counter()  # baseline: five plain messages, posted in the check's order
            for index, author in enumerate((a, a, b, b, a)):
                author.send_message(nid, f"baseline {index}")
            plain.append((time.perf_counter() - t0) * 1000)
            stored_plain.append(_stored_bytes(relay, nid, before))
            for client in (a, b):
                client.close()
            transport.shutdown()
            relay.close()
            print(f"  run {run + 1}/{runs}: check {checks[-1]:.0f} ms, baseline {plain[-1]:.0f} ms", file=sys.stderr)
    check_ms, plain_ms = statistics.median(checks), statistics.median(plain)
    return {"runs": runs, "check_ms": check_ms, "baseline_ms": plain_ms, "ratio": check_ms / plain_ms,
            "relay_bytes_check": statistics.median(stored_check), "relay_bytes_baseline": statistics.median(stored_plain),
            "events_check": 5, "events_baseline": 5}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="repetitions (medians are reported)")
    parser.add_argument("--json", action="store_true", help="also write machine-readable results")
    args = parser.parse_args(argv)
    core = bench_core(args.runs)
    print_table(f"Comparison core, 32-bit values, 2048-bit Paillier (median of {args.runs})", ["step", "ms"],
                [[name, value] for name, value in core["steps_ms"].items()] + [["total", core["total_ms"]]])
    print_table("Message sizes (JSON, before age encryption)", ["message", "bytes"],
                [[name, value] for name, value in core["message_bytes"].items()])
    e2e = bench_end_to_end(args.runs)
    print_table(f"Whole check between two in-process clients (open, 2 commits, 2 reveals; median of {args.runs})",
                ["what", "ms", "relay stored bytes", "events"],
                [["zopa check", e2e["check_ms"], e2e["relay_bytes_check"], e2e["events_check"]],
                 ["baseline: 5 plain messages", e2e["baseline_ms"], e2e["relay_bytes_baseline"], e2e["events_baseline"]],
                 ["ratio check / baseline", e2e["ratio"], e2e["relay_bytes_check"] / e2e["relay_bytes_baseline"], None]])
    if args.json:
        emit_json("zopa", {"core": core, "end_to_end": e2e}, sys.argv)


if __name__ == "__main__":
    main()
