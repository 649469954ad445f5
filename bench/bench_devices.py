"""Devices and continuity on one machine: a backup and its restore (verified from scratch), linking a device,
and an outbox flushed after an outage, against an in-process relay on SQLite.

- backup: ``create_backup`` of a profile holding one negotiation of ``--events`` messages, under a recovery
  key (the passphrase variant adds age's scrypt, timed apart); ``restore_backup`` replaying it from scratch,
  without and with the relay check (sync, then the whole log fetched again and compared). Baseline in the
  same run: ``verify_log`` of the original profile (its local copy replayed, then the relay's log compared).
- link: request, link and finish of a new device, and the requests it took (counted at the transport).
- outbox: ``--acts`` messages made with the relay away, then posted by ``offline.flush``; baseline: as many
  messages posted with the relay up.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from _common import emit_json, print_table  # noqa: E402

from parley.client import offline  # noqa: E402
from parley.client.backup import create_backup, restore_backup  # noqa: E402
from parley.client.devices import finish_link, link_device, request_link  # noqa: E402
from parley.client.sdk import Client, verify_log  # noqa: E402
from parley.client.transport import InProcessTransport  # noqa: E402
from parley.crypto.keys import SigningKey  # noqa: E402
from parley.crypto.recovery import generate_recovery_key, open_recovery, seal_recovery  # noqa: E402
from parley.relay.app import Relay, create_app  # noqa: E402
from parley.store.relay_store import open_store  # noqa: E402
from parley.tlog.note import Signer  # noqa: E402


class Counting(httpx.BaseTransport):
    """Counts requests; ``down`` refuses to connect (the relay away)."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner, self.requests, self.down = inner, 0, False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        self.requests += 1
        return self.inner.handle_request(request)

    def close(self) -> None:
        pass


def party(relay: Relay, transport: httpx.BaseTransport, tmp: Path, name: str) -> Client:
    token = relay.store.create_enrol_token(name, "2030-01-01T00:00:00Z")
    return Client.create_party(tmp / f"{name}-{secrets.token_hex(3)}", relay_url="http://relay", party_name=name,
                               member="Head of delegation", token=token, passphrase=None, transport=transport)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--acts", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="300 events, 30 acts")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.events, args.acts = 300, 30
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        relay = Relay(open_store(str(tmp / "relay.db")), Signer("bench.relay", SigningKey.generate().private),
                      "bench.relay", clock=lambda: datetime.now(UTC))
        inner = InProcessTransport(create_app(relay))
        transport = Counting(inner)
        try:
            results = run(relay, transport, tmp, args)
        finally:
            inner.shutdown()
            relay.close()
    if args.json:
        emit_json("devices", results, sys.argv)
        return
    print_table(f"Devices and continuity ({args.events} events, {args.acts} acts)", ["what", "seconds", "per item ms",
                                                                                      "requests"],
                [[k, v["s"], v.get("ms_per_item"), v.get("requests")] for k, v in results.items()])


def run(relay: Relay, transport: Counting, tmp: Path, args: argparse.Namespace) -> dict:
    ukraine, russia = party(relay, transport, tmp, "Ukraine"), party(relay, transport, tmp, "Russia")
    for a, b in ((ukraine, russia), (russia, ukraine)):
        a.profile.pin(b.profile.party, verified=True)
    nid = ukraine.create_negotiation()
    ukraine.invite(nid, russia.profile.party.party_id)
    russia.join(nid)
    for n in range(args.events):
        (ukraine if n % 2 else russia).send_message(nid, f"position {n}: " + "words " * 40)
    ukraine.sync(nid)
    out: dict[str, dict] = {}

    def timed(name: str, fn, items: int | None = None):  # noqa: ANN001, ANN202
        before, start = transport.requests, time.perf_counter()
        value = fn()
        seconds = time.perf_counter() - start
        out[name] = {"s": round(seconds, 3), "requests": transport.requests - before}
        if items:
            out[name]["ms_per_item"] = round(1000 * seconds / items, 2)
        return value

    size = ukraine.cache.checkpoint(nid)[0]
    timed(f"baseline: verify_log of {size} events", lambda: verify_log(ukraine, nid), size)
    key = generate_recovery_key()
    timed("backup create (recovery key)", lambda: create_backup(ukraine, tmp / "b.age", recovery_key=key))
    blob = (tmp / "b.age").read_bytes()
    plain = open_recovery(blob, recovery_key=key)
    sealed = timed("  of which: age with a passphrase (scrypt), seal", lambda: seal_recovery(plain, passphrase="x" * 16))
    timed("  of which: age with a passphrase (scrypt), open", lambda: open_recovery(sealed, passphrase="x" * 16))
    timed("restore, replay from scratch (no relay)", lambda: restore_backup(
        tmp / "b.age", tmp / "r1", recovery_key=key, new_passphrase=None, transport=transport, check_relay=False),
        size)
    timed("restore + relay check (sync, whole log again)", lambda: restore_backup(
        tmp / "b.age", tmp / "r2", recovery_key=key, new_passphrase=None, transport=transport), size)

    def link():  # noqa: ANN202
        pending = request_link(tmp / "phone", "http://relay", passphrase=None, transport=transport)
        link_device(ukraine, pending.code)
        return finish_link(pending, passphrase=None, transport=transport)

    phone = timed("link a device (request, link, finish + first sync)", link)
    phone.close()
    timed(f"baseline: {args.acts} messages posted online",
          lambda: [ukraine.send_message(nid, f"online {n}") for n in range(args.acts)], args.acts)
    ukraine.offline_ok = True
    transport.down = True
    timed(f"{args.acts} messages into the outbox (relay away)",
          lambda: [ukraine.send_message(nid, f"offline {n}") for n in range(args.acts)], args.acts)
    transport.down = False
    settled = timed(f"outbox flush of {args.acts}", lambda: offline.flush(ukraine), args.acts)
    if [s["state"] for s in settled] != ["posted"] * args.acts:
        raise SystemExit("the outbox did not post every act")
    return out


if __name__ == "__main__":
    main()
