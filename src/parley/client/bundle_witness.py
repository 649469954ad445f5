"""The parties' cosignatures in a publication bundle, checked offline (see ``parley.client.bundle``).

Each witness entry carries a party's C2SP cosignature of the relay's checkpoint at some size M,
the checkpoint body it signed, the cosigner's verifier key and a consistency proof from M to the
bundle's ``checkpoint.txt``. It counts when the cosignature verifies over that body, the body is
of the same log, M covers every event the bundle relies on, and the proof shows checkpoint.txt
extends it: that party's client then verified a log holding those very events.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from parley.errors import ParleyError
from parley.protocol.witness import WITNESS_PREFIX, required_count
from parley.tlog import merkle
from parley.tlog.checkpoint import Checkpoint
from parley.tlog.cosignature import Cosigner, verify_cosignature


def check_witnesses(bundle: dict[str, Any], checkpoint: Checkpoint, require: str | int | None,
                    fail: Callable[[str, str], None], checked: list[str]) -> None:
    """Check every witness entry; with ``require``, fail unless enough distinct signing parties count.

    Raises:
        InputError: ``require`` outside 1..number of signing parties.
    """
    parties = {s.get("party_id"): s.get("party", "?") for s in bundle.get("signers", []) if s.get("party_id")}
    needed = None if require is None else required_count(require, len(parties))
    events = [bundle.get("publication_event")] + [s.get("sign_event") for s in bundle.get("signers", [])]
    covered = max((e["seq"] for e in events if isinstance(e, dict) and isinstance(e.get("seq"), int)), default=-1) + 1
    witnessed: set[str] = set()
    for entry in bundle.get("witnesses") or []:
        what = f"bundle.json witness {entry.get('party', '?')}" if isinstance(entry, dict) else "bundle.json witness"
        try:
            party = _check_one(entry, checkpoint, covered, parties)
        except (KeyError, TypeError, ValueError, ParleyError) as exc:
            fail(what, f"not a cosignature of this log ({getattr(exc, 'message', exc)})")
            continue
        witnessed.add(party)
        checked.append(what)
    if needed is not None and len(witnessed) < needed:
        missing = sorted(name for pid, name in parties.items() if pid not in witnessed)
        fail("bundle.json witnesses", f"cosigned by {len(witnessed)} of {len(parties)} parties, {needed} required"
             + (f" (missing: {', '.join(missing)})" if missing else ""))


def _check_one(entry: dict[str, Any], checkpoint: Checkpoint, covered: int, parties: dict) -> str:
    party = entry["party_id"]
    if party not in parties:
        raise ValueError("not a signing party")
    cosigner = Cosigner.from_vkey(entry["cosigner_vkey"])
    if not cosigner.name.startswith(WITNESS_PREFIX):
        raise ValueError("not a parley witness key")
    body = Checkpoint.parse(entry["checkpoint"])
    if body.origin != checkpoint.origin:
        raise ValueError("another log")
    if not covered <= body.size <= checkpoint.size:
        raise ValueError(f"cosigned size {body.size} does not hold every event of the bundle (needs {covered} "
                         f"to {checkpoint.size})")
    verify_cosignature(body.to_text(), entry["cosignature"], cosigner)
    proof = [base64.b64decode(p, validate=True) for p in entry["consistency_proof"]]
    merkle.verify_consistency(body.size, checkpoint.size, proof, body.root, checkpoint.root)
    return party
