"""Party-level trust: a head's out-of-band fingerprint check, recorded for its whole delegation.

A head of delegation who compared another party's root-key fingerprint out of band (or withdrew that
trust) posts a ``trust.verify`` event whose audience is its own party, with head authority. Every
device of the party folds these events the same way, so a delegate inherits the head's verification
(and its revocation) and the screen can say who verified, and when.

Rules (a violation is listed and changes nothing):
- only a head of delegation of the reading party records its party's trust (acting as head);
- the record names the root key that was checked: it counts for that key and the keys that its
  party's signed rotations chained from it, never for a key the party record does not lead to.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from parley.errors import InputError, ProtocolError
from parley.protocol.bodies import TrustRecord, decode_content
from parley.protocol.workflow import Entry

TRUST_VERIFY = "trust.verify"


def check_trust_content(content: Any) -> TrustRecord:
    """The typed content of a ``trust.verify`` event (``parley.protocol.bodies.TrustRecord``).

    Raises:
        InputError: malformed content (the message names the field).
    """
    return decode_content(TRUST_VERIFY, content)  # type: ignore[return-value]


def derive_party_trust(entries: Iterable[Entry], own_party: str) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The latest trust record of ``own_party`` about each other party, and the violations.

    Returns ``({party id: {"verified", "root_key", "by", "at"}}, [violation, ...])``.
    """
    records: dict[str, dict[str, Any]] = {}
    violations: list[str] = []
    for e in sorted(entries, key=lambda x: x.seq):
        if e.type != TRUST_VERIFY:
            continue
        try:
            c = e.body
            if e.party != own_party:
                raise ProtocolError("only a party's own heads of delegation record its trust in others")
            if e.role != "head" or e.authority != "head":
                raise ProtocolError("only a head of delegation records a fingerprint verification for the party")
            records[c.party_id] = {"verified": c.verified, "root_key": c.root_key, "by": e.author,
                                    "at": e.created}
        except (InputError, ProtocolError) as exc:
            violations.append(f"event {e.seq} ({e.type}) by {e.author}: {exc.message}")
    return records, violations


def effective_trust(record: Mapping[str, Any] | None, root_chain: list[str], verified_here: bool) -> dict[str, Any]:
    """What a device shows for a party: the party-level record (if it names a key of this party's chain)
    wins over this device's own pin, since a head's revocation must reach every device.

    Returns ``{"verified": bool, "source": "party" | "device" | None, "by": str | None, "at": str | None}``.
    """
    if record is not None and record["root_key"] in root_chain:
        return {"verified": record["verified"], "source": "party", "by": record["by"], "at": record["at"]}
    return {"verified": verified_here, "source": "device" if verified_here else None, "by": None, "at": None}


__all__ = ["TRUST_VERIFY", "check_trust_content", "derive_party_trust", "effective_trust"]
