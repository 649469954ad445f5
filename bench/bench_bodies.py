"""Reading the workflow from the local copy: decode every stored body and fold the views.

What ``Negotiation.views()`` and ``agreements()`` do: the cache's query of the events of the folds' types
(``parley.client.entries.entries`` over a real ``ClientCache``), each stored body parsed into a
``parley.protocol.workflow.Entry``, then the workflow and agreement folds over the timeline (shape check of
every body, then the rules). N events (default 5,000) of a
realistic mix: key issues, memoranda with receipts and official responses, meetings and answers, channel
messages, an agreement text and objections. A third figure folds entries whose content is a plain dict (as
tests build them): the cost of the shape check alone, without the cache.

Usage::

    python bench/bench_bodies.py                          # this tree
    python bench/bench_bodies.py --src /tmp/old/src       # and another source tree, in the same run

``--src`` runs the same measurement on an older checkout (``git archive <commit> src | tar -x -C /tmp/old``)
in a child process, so both columns come from one run on one machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def make_rows(count: int) -> list[tuple[int, str, str, str, str, str]]:
    """(seq, created, party, role, type, body JSON) of ``count`` events, as the cache stores them."""
    start = datetime(2025, 6, 2, 10, tzinfo=UTC)
    rows: list[tuple[int, str, str, str, str, str]] = []

    def add(party: str, event_type: str, content: dict[str, Any], role: str = "head") -> None:
        seq = len(rows)
        created = (start + timedelta(seconds=seq)).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = json.dumps({"type": event_type, "content": content, "binding": "b" * 64}, sort_keys=True,
                          separators=(",", ":"))
        rows.append((seq, created, party, role, event_type, body))

    issues = [f"issue-{k}" for k in range(20)]
    for issue in issues:
        add("party-a", "agenda.issue.add", {"issue_id": issue, "title": f"Key issue {issue}"})
    add("party-a", "channel.open", {"channel_id": "chan-1", "name": "Technical"})
    add("party-a", "agreement.text", {
        "agreement_id": "accord", "version": 1, "title": "Accord",
        "articles": [{"number": n, "heading": f"Article {n}", "text": "The parties agree. " * 20}
                     for n in range(1, 11)]})
    due = (start + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    memo = meeting = 0
    while len(rows) < count:
        memo += 1
        positions = {issue: f"Position {memo} on {issue}. " * 10 for issue in issues[memo % 17:memo % 17 + 3]}
        add("party-a", "memorandum.deliver", {"memo_id": f"memo-{memo}", "title": f"Memorandum {memo}",
                                              "version": 1, "positions": positions, "respond_by": due})
        add("party-b", "receipt", {"memo_id": f"memo-{memo}", "event_id": "e" * 64})
        add("party-b", "response.official", {"memo_id": f"memo-{memo}", "covering_text": "Our answer.",
                                             "stances": {i: {"stance": "counter", "text": "Half of it."}
                                                         for i in positions}})
        for k in range(4):
            add("party-b" if k % 2 else "party-a", "channel.message", {"channel_id": "chan-1",
                                                                       "text": f"Message {memo}.{k} " * 8},
                role="member")
        if memo % 5 == 0:
            meeting += 1
            begin = start + timedelta(days=40 + meeting)
            add("party-a", "meeting.propose", {
                "meeting_id": f"meeting-{meeting}", "venue": "Geneva", "level": "delegation",
                "start": begin.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "end": (begin + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ"), "timezone": "Europe/Zurich",
                "agenda": issues[:2]})
            add("party-b", "meeting.respond", {"meeting_id": f"meeting-{meeting}", "answer": "accept"})
            add("party-b", "agreement.objection", {"agreement_id": "accord", "kind": "objection", "version": 1,
                                                   "article": meeting % 10 + 1, "text": "Not this way."})
    return rows[:count]


class _Member:
    def __init__(self, party: str, role: str) -> None:
        self.member, self.role, self.party_id, self.signing_key = f"{role} of {party}", role, party, "k" * 44


class _Reader:
    """What ``parley.client.entries.entries`` reads of a client: its cache and the verified members."""

    def __init__(self, cache: Any, members: dict[str, _Member]) -> None:
        self.cache = cache
        self._state = type("State", (), {"members": members})()

    def state(self, negotiation_id: str) -> Any:
        return self._state


def measure(count: int, repeat: int) -> dict[str, float]:
    import tempfile

    from parley.client.cache import ClientCache
    from parley.client.entries import entries
    from parley.protocol import agreement as ag
    from parley.protocol import workflow as wf

    rows = make_rows(count)
    devices = {(party, role): f"{party[-1]}{role[0]}".ljust(32, "0") for party in ("party-a", "party-b")
               for role in ("head", "member")}
    members = {device: _Member(party, role) for (party, role), device in devices.items()}
    ciphertext = "A" * 2300  # a 1.7 KB ciphertext in base64, as the cache keeps every envelope
    stored = []
    for seq, created, party, role, _, text in rows:
        header = {"v": 1, "negotiation": "neg-1", "author": devices[(party, role)], "created": created,
                  "prev": "f" * 64, "nonce": "n" * 24, "audience": {"parties": ["party-a", "party-b"], "roles": None},
                  "authority": "head" if role == "head" else "member",
                  "ciphertexts": [{"sha256": "c" * 64, "recipients": ["d" * 32]}], "public": None, "checkpoint": None}
        envelope = {"header": header, "signature": "s" * 88, "ciphertexts": [ciphertext]}
        stored.append((seq, f"{seq:064x}", envelope, json.loads(text), created))
    folder = tempfile.mkdtemp()
    cache = ClientCache(Path(folder) / "cache.db")
    cache.store_sync("neg-1", stored, [], (len(stored), b"r" * 32, "note"))
    reader = _Reader(cache, members)
    workflow_types = frozenset({t for *_, t, _ in rows} - ag.AGREEMENT_TYPES)

    def read() -> None:
        entries(reader, "neg-1", workflow_types)
        entries(reader, "neg-1", ag.AGREEMENT_TYPES)

    def rebuild() -> None:
        # as ``Negotiation.views()`` and ``agreements()`` do: each fold reads its own types from the cache
        views = wf.derive_views(entries(reader, "neg-1", workflow_types), {}, convener="party-a")
        agreements, violations = ag.derive_agreements(entries(reader, "neg-1", ag.AGREEMENT_TYPES), "neg-1")
        assert not views.violations and not violations, (views.violations[:3], violations[:3])
        assert len(views.memoranda) > count // 20

    def fold_dicts() -> None:
        # the folds over entries whose content is a dict (as tests build them, and as a content is checked
        # before posting): each dict is checked (and, with typed bodies, converted to its type) in the fold
        items = []
        for seq, created, party, role, _, text in rows:
            body = json.loads(text)
            items.append(wf.Entry(seq=seq, event_id=f"{seq:064x}", created=created, author=f"{role} of {party}",
                                  role=role, party=party, authority="head" if role == "head" else "member",
                                  audience=("party-a", "party-b"), type=body["type"], content=body["content"]))
        wf.derive_views([e for e in items if e.type not in ag.AGREEMENT_TYPES], {}, convener="party-a")
        ag.derive_agreements([e for e in items if e.type in ag.AGREEMENT_TYPES], "neg-1")

    def best(fn: Any) -> float:
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        return min(times)

    figures = {"events": count, "decode_ms": best(read) * 1000, "rebuild_ms": best(rebuild) * 1000,
               "dicts_ms": best(fold_dicts) * 1000}
    cache.close()
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--src", type=Path, help="another source tree to measure in the same run")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.events, args.repeat)))
        return 0
    columns = {}
    trees = [("this tree", ROOT / "src")] + ([(f"{args.src}", args.src)] if args.src else [])
    for _round in range(2):  # alternate the trees, so neither runs only on a warmer (or busier) machine
        for name, src in trees:
            figures = json.loads(subprocess.run(
                [sys.executable, __file__, "--child", "--events", str(args.events), "--repeat", str(args.repeat)],
                check=True, stdout=subprocess.PIPE, text=True, env={"PYTHONPATH": str(src), "PATH": ""}).stdout)
            if name not in columns or figures["rebuild_ms"] < columns[name]["rebuild_ms"]:
                columns[name] = figures
    print(f"{args.events} events, best of {args.repeat} runs x 2 rounds")
    print(f"{'tree':<32} {'cache -> entries (ms)':>22} {'cache -> views + agreements (ms)':>34} "
          f"{'JSON -> dict entries -> folds (ms)':>36}")
    for name, figures in columns.items():
        print(f"{name:<32} {figures['decode_ms']:>22.1f} {figures['rebuild_ms']:>34.1f} {figures['dicts_ms']:>36.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
