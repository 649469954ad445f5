"""HTTP round trips per act: how many requests a client sends the relay for one act or one read.

A counting httpx transport wraps an in-process relay (no sockets: requests are counted, not timed).
Three parties (Ukraine, Russian Federation, Türkiye) in one negotiation; each act is measured in a
steady state (the actor has synced before, the others have posted since, so there is something new
to list, as in real talks):

- ``add_issue``            the mediator puts a key issue on the agenda (SDK ``Negotiation.add_issue``);
- ``deliver_memorandum``   Ukraine delivers a two-issue memorandum to Russia;
- ``read (status)``        Russia reads the status (``Negotiation.sync(receipts=False)`` + ``status()``);
- ``cli: issue add``       what ``parley issue add`` does: the command's sync, then the act;
- ``cli: status``          what ``parley status`` does;
- ``witness cosign``       Russia witnesses without acting (``parley witness cosign``: a sync, then its cosignature).

Usage::

    python bench/bench_round_trips.py                       # this tree
    python bench/bench_round_trips.py --src /tmp/old/src    # the same acts on another source tree
    python bench/bench_round_trips.py --timing 200 --src /tmp/old/src   # wall-clock ms per act, both trees

``--src`` runs the acts on an older checkout (e.g. ``git archive <commit> | tar -x -C /tmp/old``)
in a child process, so the two columns come from the same run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

#: the figures issue 23 recorded for the code before (SDK acts, counted with a wrapped transport)
ISSUE_BEFORE = {
    "add_issue": {"POST /events": 1, "GET /events": 3, "GET /proof/consistency": 1},
    "deliver_memorandum": {"POST /events": 2, "GET /events": 5, "GET /proof/consistency": 2},
}


def _kind(method: str, path: str) -> str:
    parts = path.strip("/").split("/")
    if len(parts) >= 4 and parts[1] == "negotiations":
        return f"{method} /{'/'.join(parts[3:])}"
    return f"{method} {path}"


def measure() -> dict[str, dict[str, int]]:
    """Count the requests of each act (runs on whatever ``parley`` is importable)."""
    import httpx

    from parley.client.sdk import Client
    from parley.client.transport import InProcessTransport
    from parley.client.workflow import Negotiation
    from parley.crypto.keys import SigningKey
    from parley.relay.app import Relay, create_app
    from parley.store.relay_store import open_store
    from parley.tlog.note import Signer

    class Counting(httpx.BaseTransport):
        def __init__(self, inner: httpx.BaseTransport) -> None:
            self.inner = inner
            self.seen: Counter[str] = Counter()

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            kind = _kind(request.method, request.url.path)
            if kind == "POST /events" and b',"cosignature":' in request.content:
                kind += " (with a cosignature)"  # the author's cosignature inside its event post
            self.seen[kind] += 1
            return self.inner.handle_request(request)

    tmp = Path(tempfile.mkdtemp(prefix="parley-round-trips-"))
    relay = Relay(open_store(str(tmp / "relay.db")), Signer("bench.relay", SigningKey.generate().private),
                  "bench.relay")
    inner = InProcessTransport(create_app(relay))
    counters: dict[str, Counting] = {}

    def party(name: str) -> Client:
        counting = counters[name] = Counting(inner)
        token = relay.store.create_enrol_token(name, "2026-01-01T00:00:00Z")
        return Client.create_party(tmp / name.replace(" ", "_"), relay_url="http://relay", party_name=name,
                                   member="Head of delegation", token=token, passphrase=None, transport=counting)

    names = ["Türkiye", "Ukraine", "Russian Federation"]
    clients = {name: party(name) for name in names}
    for a in clients.values():
        for b in clients.values():
            if a is not b:
                a.profile.pin(b.profile.party, verified=True)
    tr, ua, ru = (clients[n] for n in names)
    nid = tr.create_negotiation()
    for other in (ua, ru):
        tr.invite(nid, other.profile.party.party_id)
        other.join(nid)
    for client in clients.values():
        client.sync(nid)
    views = {name: Negotiation(client, nid) for name, client in clients.items()}
    ceasefire = views["Türkiye"].add_issue("Ceasefire", "ceasefire")
    prisoners = views["Türkiye"].add_issue("Exchange of prisoners", "prisoners")
    for view in views.values():
        view.sync()
    ru_id = ru.profile.party.party_id

    def counted(name: str, act: Any) -> dict[str, int]:
        # Someone else posts first: the act has something new to list, as in real talks.
        other = ua if name != "Ukraine" else tr
        other.send_message(nid, "meanwhile")
        counters[name].seen.clear()
        act()
        return dict(sorted(counters[name].seen.items()))

    def cli_path(view: Negotiation, read: bool, act: Any) -> None:
        try:
            from parley.cli.common import open_negotiation  # noqa: F401  (the command is one act)
        except ImportError:  # before: the command synced (posting receipts), then the act synced again
            view.sync()
            act()
            return
        with view.client.one_act():
            view.sync(receipts=not read)
            act()

    results = {
        "add_issue": counted("Türkiye", lambda: views["Türkiye"].add_issue("Territory", "territory")),
        "deliver_memorandum": counted("Ukraine", lambda: views["Ukraine"].deliver_memorandum(
            "Positions of Ukraine", {ceasefire: "Thirty days.", prisoners: "All for all."}, to=[ru_id])),
        "read (status)": counted("Russian Federation", lambda: (views["Russian Federation"].sync(receipts=False),
                                                                 views["Russian Federation"].status())),
        "cli: issue add": counted("Türkiye", lambda: cli_path(
            views["Türkiye"], False, lambda: views["Türkiye"].add_issue("Guarantees", "guarantees"))),
        "cli: status": counted("Russian Federation", lambda: cli_path(
            views["Russian Federation"], True, lambda: views["Russian Federation"].status())),
    }
    try:
        from parley.client.witness import cosign, owed_cosignature  # noqa: F401  (only this tree has both)
    except ImportError:  # before: every sync that verified new entries posted a cosignature by itself
        cosign = None
    if cosign is not None:
        results["witness cosign"] = counted("Russian Federation", lambda: cosign(ru, nid))
    for client in clients.values():
        client.close()
    inner.shutdown()
    relay.close()
    return results


def measure_times(rounds: int) -> dict[str, float]:
    """Wall-clock ms per act and per read on an in-process relay (client and relay on the same cores):
    a message posted by Ukraine with its cosignature owed (witnessing) and with none (``witness = False``),
    alternated in rounds of 10 so the machine's drift falls on both; then, in rounds of 10 between those,
    Russia's sync of one new event Ukraine just posted."""
    import statistics
    import time

    from parley.client.sdk import Client
    from parley.client.transport import InProcessTransport
    from parley.crypto.keys import SigningKey
    from parley.relay.app import Relay, create_app
    from parley.store.relay_store import open_store
    from parley.tlog.note import Signer

    tmp = Path(tempfile.mkdtemp(prefix="parley-round-trip-times-"))
    relay = Relay(open_store(str(tmp / "relay.db")), Signer("bench.relay", SigningKey.generate().private),
                  "bench.relay")
    transport = InProcessTransport(create_app(relay))

    def party(name: str) -> Client:
        token = relay.store.create_enrol_token(name, "2026-01-01T00:00:00Z")
        return Client.create_party(tmp / name.replace(" ", "_"), relay_url="http://relay", party_name=name,
                                   member="Head of delegation", token=token, passphrase=None, transport=transport)

    ua, ru = party("Ukraine"), party("Russian Federation")
    ua.profile.pin(ru.profile.party, verified=True)
    ru.profile.pin(ua.profile.party, verified=True)
    nid = ua.create_negotiation()
    ua.invite(nid, ru.profile.party.party_id)
    ru.join(nid)
    ua.sync(nid)
    times: dict[str, list[float]] = {"act, witnessing": [], "act, not witnessing": [], "read of one new event": []}
    for _ in range(max(1, rounds // 10)):
        for witnessing in (True, False):
            ua.witness = witnessing
            for _ in range(10):
                started = time.perf_counter()
                ua.send_message(nid, "a message of about the usual length for the talks")
                elapsed = (time.perf_counter() - started) * 1000
                times["act, witnessing" if witnessing else "act, not witnessing"].append(elapsed)
        ua.witness = True
        for _ in range(10):
            ua.send_message(nid, "news for the reader")
            started = time.perf_counter()
            ru.sync(nid)
            times["read of one new event"].append((time.perf_counter() - started) * 1000)
    for client in (ua, ru):
        client.close()
    transport.shutdown()
    relay.close()
    return {f"{what} (median ms)": round(statistics.median(values), 2) for what, values in times.items()}


def _summary(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {k}" for k, n in counts.items()) or "none"


def _totals(counts: dict[str, int]) -> tuple[int, int]:
    listings = sum(n for k, n in counts.items() if k.startswith("GET"))
    posts = sum(n for k, n in counts.items() if k.startswith("POST"))
    return listings, posts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", type=Path, help="also measure the acts on this source tree (its src/ folder)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--timing", type=int, metavar="N", default=0,
                        help="also time N acts of each kind (wall clock, in-process relay)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure_times(args.timing) if args.timing else measure()))
        return 0
    if args.timing:
        trees = [("after", ROOT / "src"), *([("before", args.src)] if args.src else [])]
        print(f"\nWall-clock ms, median of {args.timing // 10 * 10} each (client and in-process relay)")
        for label, src in trees:
            for what, value in _run(src, args.timing).items():
                print(f"  {label}: {what}: {value}")
        return 0
    after = _run(ROOT / "src")
    before = _run(args.src) if args.src else None
    if args.json:
        print(json.dumps({"after": after, "before": before, "issue_before": ISSUE_BEFORE}, indent=2))
        return 0
    print("\nHTTP requests per act (GET = reads of the relay, POST = writes)")
    for act, counts in after.items():
        gets, posts = _totals(counts)
        print(f"\n{act}\n  after:  {gets} GET, {posts} POST  ({_summary(counts)})")
        if before is not None and act in before:
            gets, posts = _totals(before[act])
            print(f"  before: {gets} GET, {posts} POST  ({_summary(before[act])})")
        elif act in ISSUE_BEFORE:
            print(f"  before (issue 23): {_summary(ISSUE_BEFORE[act])}")
    return 0


def _run(src: Path, timing: int = 0) -> dict[str, Any]:
    """``measure()`` (or ``measure_times(timing)``) in a child process importing parley from ``src``."""
    env_path = str(src.resolve())
    done = subprocess.run([sys.executable, __file__, "--child", "--timing", str(timing)], capture_output=True,
                          text=True, check=False,
                          env={**_env(), "PYTHONPATH": env_path}, timeout=600)
    if done.returncode != 0:
        raise SystemExit(f"measuring on {src} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}


if __name__ == "__main__":
    raise SystemExit(main())
