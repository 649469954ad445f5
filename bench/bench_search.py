"""Search of a negotiation's history on one device: indexing 10,000 events and answering queries.

The client's real encrypted cache (SQLCipher, key as a profile derives it) stores synthetic verified
batches through ``ClientCache.store_sync`` (which indexes them in the same transaction), then
``parley.client.search.search_index`` answers queries: a rare word, a common word, two words, a prefix,
and a word found nowhere. Each query runs ``--runs`` times; the median and the 95th percentile are printed.
Bodies are ~60-word messages, memoranda, responses and objections over a 5,000-word vocabulary.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from _common import emit_json, percentile, print_table  # noqa: E402

from parley.client.cache import ClientCache  # noqa: E402
from parley.client.search import search_index  # noqa: E402
from parley.crypto.keys import EncryptionKey  # noqa: E402
from parley.crypto.local_store import local_store_key  # noqa: E402

NID = "n-0123456789abcdef"
TYPES = [("message", "text"), ("channel.message", "text"), ("agreement.objection", "text"),
         ("response.official", "covering_text"), ("memorandum.deliver", "title")]


def vocabulary(rng: random.Random, size: int = 5000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return sorted({"".join(rng.choice(letters) for _ in range(rng.randint(4, 10))) for _ in range(size)})


def events(count: int, words: list[str], rng: random.Random) -> list[tuple]:
    weights = [1 / (rank + 1) for rank in range(len(words))]  # Zipf-like: a few words are everywhere
    out = []
    for seq in range(count):
        event_type, field = TYPES[seq % len(TYPES)]
        text = " ".join(rng.choices(words, weights, k=60))
        if seq == count // 2:
            text += " zaporizhzhia"  # one rare word, in one event
        content = {field: text, "memo_id": f"memo-{seq:08x}", "agreement_id": "accord", "channel_id": "ch-1"}
        if event_type == "memorandum.deliver":
            content["positions"] = {"prisoners": text}
        envelope = {"header": {"author": "a" * 64, "created": "2026-03-01T10:00:00Z"}}
        out.append((seq, f"{seq:064x}", envelope, {"type": event_type, "content": content}, "2026-03-01T10:00:00Z"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500, help="events per stored batch (a sync's page)")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rng = random.Random(21)
    words = vocabulary(rng)
    batches = events(args.events, words, rng)
    with tempfile.TemporaryDirectory() as folder:
        cache = ClientCache(Path(folder) / "cache.db", local_store_key(EncryptionKey.generate()))
        start = time.perf_counter()
        for first in range(0, len(batches), args.batch):
            batch = batches[first:first + args.batch]
            cache.store_sync(NID, batch, [], (batch[-1][0] + 1, b"\0" * 32, "note"))
        indexing = time.perf_counter() - start
        size = sum(p.stat().st_size for p in Path(folder).iterdir())
        queries = {"rare word": "zaporizhzhia", "common word": words[0], "two words": f"{words[0]} {words[1]}",
                   "prefix": words[3][:3] + "*", "no match": "nowhereword"}
        rows, results = [], {}
        for label, query in queries.items():
            times, hits = [], 0
            for _ in range(args.runs):
                began = time.perf_counter()
                hits = len(search_index(cache.db, NID, query))
                times.append((time.perf_counter() - began) * 1000)
            results[label] = {"query": query, "hits": hits, "median_ms": statistics.median(times),
                              "p95_ms": percentile(times, 95)}
            rows.append([label, query, hits, results[label]["median_ms"], results[label]["p95_ms"]])
        cache.close()
    print_table(f"Indexing {args.events:,} events in batches of {args.batch} (encrypted cache, same transaction "
                "as the store)", ["events", "seconds", "events/s", "cache MB"],
                [[args.events, indexing, args.events / indexing, size / 1e6]])
    print_table(f"Query latency over {args.events:,} events (newest 50 with snippets; {args.runs} runs)",
                ["query", "words", "hits", "median ms", "p95 ms"], rows)
    if args.json:
        emit_json("search", {"events": args.events, "indexing_s": indexing, "cache_bytes": size,
                             "queries": results}, sys.argv)


if __name__ == "__main__":
    main()
