"""Padmé padding of event bodies: what it costs in bytes and in time.

Bytes: for plaintext lengths spread log-uniformly from 100 B to 1 MB (and for bodies shaped like the
demo's messages and memoranda), the padded age payload against the unpadded one. Time: ``seal_padded``
+ ``open_padded`` against ``seal`` + ``open_sealed`` of the same body, same recipients, same run.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from _common import emit_json, print_table  # noqa: E402

from parley.crypto.keys import EncryptionKey  # noqa: E402
from parley.crypto.padding import padme_length  # noqa: E402
from parley.crypto.seal import open_padded, open_sealed, seal, seal_padded  # noqa: E402


def byte_overhead(samples: int) -> list[dict[str, Any]]:
    rng = random.Random(19)
    rows = []
    for low, high in ((100, 1_000), (1_000, 10_000), (10_000, 100_000), (100_000, 1_000_000)):
        lengths = [round(10 ** rng.uniform(len(str(low)) - 1, len(str(high)) - 1)) for _ in range(samples)]
        overhead = [(padme_length(n + 1) - n) / n for n in lengths]
        buckets = len({padme_length(n + 1) for n in range(low, high)})
        rows.append({"range": f"{low:,}-{high:,} B", "mean_pct": round(100 * statistics.mean(overhead), 2),
                     "max_pct": round(100 * max(overhead), 2), "sizes_in_range": buckets,
                     "bits_revealed": round(buckets.bit_length() - 1 + (buckets & (buckets - 1) != 0), 1)})
    return rows


def time_overhead(repeat: int) -> list[dict[str, Any]]:
    readers = [EncryptionKey.generate() for _ in range(8)]
    recipients = [r.recipient for r in readers]
    rows = []
    for size in (3_500, 1_000_000):
        body = b"{" + b"p" * (size - 2) + b"}"

        def plain(body: bytes = body) -> None:
            open_sealed(seal(body, recipients), readers[0])

        def padded(body: bytes = body) -> None:
            open_padded(seal_padded(body, recipients), readers[0])

        times: dict[str, list[float]] = {"plain": [], "padded": []}
        for _ in range(repeat):  # alternating, so drift hits both alike
            for name, fn in (("plain", plain), ("padded", padded)):
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
        plain_ms, padded_ms = (1000 * statistics.median(times[k]) for k in ("plain", "padded"))
        rows.append({"plaintext_bytes": size, "recipients": 8, "plain_ms": round(plain_ms, 3),
                     "padded_ms": round(padded_ms, 3), "ratio": round(padded_ms / plain_ms, 2),
                     "payload_bytes": len(body), "padded_payload_bytes": padme_length(len(body) + 1)})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a few seconds")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    args = parser.parse_args(argv)
    sizes = byte_overhead(2_000 if args.quick else 20_000)
    timing = time_overhead(15 if args.quick else 61)
    if args.json:
        emit_json("padding", {"bytes": sizes, "time": timing}, [sys.argv[0], *(argv or sys.argv[1:])])
        return 0
    print_table("Padmé: bytes added to the age payload (plaintext lengths log-uniform in each range)",
                ["plaintext", "mean %", "max %", "distinct sizes", "bits a size reveals"],
                [[r["range"], r["mean_pct"], r["max_pct"], r["sizes_in_range"], r["bits_revealed"]] for r in sizes])
    print_table("Seal + open, padded against unpadded (median, alternating runs)",
                ["plaintext", "recipients", "unpadded ms", "padded ms", "ratio"],
                [[f"{r['plaintext_bytes']:,} B", r["recipients"], r["plain_ms"], r["padded_ms"], r["ratio"]]
                 for r in timing])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
