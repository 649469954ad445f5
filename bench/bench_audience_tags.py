"""Audiences hidden from outsiders: what the audience tags and hidden entries cost.

Per negotiation size (devices in it): the author's work to tag one event (first event to these readers,
with the X25519 exchanges, then cached), a device's check of one hidden entry against every member's key
(cached), and the bytes: an encrypted event's header with and without its tags, and the hidden entry served
in its place. Baseline in the same run: parsing and signature-checking the same event's envelope, which
every member does for an event it sees.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from _common import emit_json, print_table  # noqa: E402

from parley.crypto.audience_tags import _pair_key, addressed_to, audience_tags  # noqa: E402
from parley.crypto.keys import EncryptionKey, SigningKey, new_nonce  # noqa: E402
from parley.protocol.events import (  # noqa: E402
    Audience,
    CiphertextRef,
    Envelope,
    HiddenEvent,
    build_header,
    sign_header,
)
from parley.protocol.times import parse_time  # noqa: E402


def _median_ms(run: Any, repeat: int) -> float:  # noqa: ANN401
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def measure(devices: int, repeat: int) -> dict[str, Any]:
    keys = [EncryptionKey.generate() for _ in range(devices)]
    author, outsider = keys[0], EncryptionKey.generate()
    recipients = [k.recipient for k in keys]
    signing = SigningKey.generate()
    ids = sorted(f"{i:032x}" for i in range(devices))

    def header(tags: tuple[str, ...] | None) -> Envelope:
        built = build_header(negotiation="n-bench", author="0" * 32, created=parse_time("2026-12-07T10:00:00Z"),
                             audience=Audience(("p1", "p2")), prev="a" * 64, nonce=new_nonce(), tags=tags,
                             ciphertexts=(CiphertextRef("b" * 64, tuple(ids)),))
        return Envelope(built, sign_header(signing, built), (None,))

    _pair_key.cache_clear()
    first_tagging = _median_ms(lambda: audience_tags(author.identity, new_nonce(), recipients, devices), 1)
    tagging = _median_ms(lambda: audience_tags(author.identity, new_nonce(), recipients, devices), repeat)
    tagged = header(audience_tags(author.identity, new_nonce(), recipients, devices))
    hidden = HiddenEvent.of(tagged)
    check = _median_ms(lambda: addressed_to(outsider.identity, outsider.recipient, recipients, hidden.nonce,
                                            hidden.tags), repeat)
    wire = tagged.to_obj()
    baseline = _median_ms(lambda: Envelope.from_obj(wire).verify_signature(signing.public_b64), repeat)
    untagged = header(None)
    return {"devices": devices, "tag_first_ms": round(first_tagging, 3), "tag_ms": round(tagging, 3),
            "check_hidden_ms": round(check, 3), "baseline_parse_verify_ms": round(baseline, 3),
            "check_over_baseline": round(check / baseline, 2),
            "header_bytes_untagged": len(untagged.header_bytes), "header_bytes_tagged": len(tagged.header_bytes),
            "hidden_entry_bytes": len(hidden.leaf_bytes()) + len(b'{"seq":123,"hidden":}')}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows = [measure(n, args.repeat) for n in (5, 12, 30, 100)]
    if args.json:
        emit_json("audience_tags", {"rows": rows}, [sys.argv[0], *(argv or sys.argv[1:])])
        return 0
    print_table("Audience tags and hidden entries (median ms; bytes)",
                ["devices", "tag 1st ms", "tag ms", "check hidden ms", "parse+verify ms", "ratio",
                 "header B", "tagged B", "hidden B"],
                [[r["devices"], r["tag_first_ms"], r["tag_ms"], r["check_hidden_ms"], r["baseline_parse_verify_ms"],
                  r["check_over_baseline"], r["header_bytes_untagged"], r["header_bytes_tagged"],
                  r["hidden_entry_bytes"]] for r in rows])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
