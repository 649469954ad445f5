"""The readable events of a negotiation's local copy as ``parley.protocol.workflow.Entry`` rows: what the
workflow, agreement and trust folds read (``Negotiation.entries`` and ``parley.client.trust``)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from parley.crypto.canonical import canonical_bytes
from parley.protocol import workflow as wf

if TYPE_CHECKING:
    from parley.client.sdk import Client


def entries(client: Client, negotiation_id: str, types: frozenset[str]) -> list[wf.Entry]:
    """Readable events of the given types, oldest first, each with its author as the verified state knows
    them (events of authors the state does not know are left out)."""
    state = client.state(negotiation_id)
    out = []
    for seq, eid, header, event_type, body, content in client.cache.typed_events_of_types(negotiation_id, types):
        author = state.members.get(header.author)
        if author is None:
            continue
        out.append(wf.typed_entry(body, seq=seq, event_id=eid, created=header.created, author=author.member,
                                  role=author.role, party=author.party_id, authority=header.authority,
                                  audience=tuple(header.audience.parties), type=event_type,
                                  content=content, device=header.author, signing_key=author.signing_key))
    return out


def event_id(env: Mapping[str, Any]) -> str:
    """The id of a stored event: SHA-256 of its canonical header."""
    return hashlib.sha256(canonical_bytes(env["header"])).hexdigest()


__all__ = ["entries", "event_id"]
