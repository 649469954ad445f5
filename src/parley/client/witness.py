"""The client as a witness: it cosigns every checkpoint it verified, and tells how far its verified
log is cosigned by the other parties (see ``parley.protocol.witness``).

``cosign_verified`` runs after each successful sync (one line in ``Client.sync``). It is best
effort: a relay that refuses or drops a cosignature costs that party its finality, which every
client sees, but never stops the sync that verified the log.
"""

from __future__ import annotations

import base64
import logging
from typing import TYPE_CHECKING

from parley.errors import ParleyError
from parley.protocol.witness import ALL, WitnessStatus, party_cosigners, require_final, witness_name
from parley.protocol.witness import witness_status as evaluate
from parley.tlog import merkle
from parley.tlog.checkpoint import Checkpoint
from parley.tlog.cosignature import cosign

if TYPE_CHECKING:
    from parley.client.sdk import Client, SyncResult

log = logging.getLogger(__name__)


def cosign_verified(client: Client, result: SyncResult) -> None:
    """Cosign the checkpoint a sync just verified and post it to the relay, once per size."""
    if not getattr(client, "witness", True) or result.size == 0:
        return
    done = client.__dict__.setdefault("_cosigned", {})
    if done.get(result.negotiation_id, 0) >= result.size:
        return
    try:
        body = Checkpoint(client.origin(result.negotiation_id), result.size, result.root).to_text()
        line = cosign(body, witness_name(client.identity.device_key_id), client.identity.signing.private,
                      int(client.clock().timestamp()))
        client.conn.post(f"/v1/negotiations/{result.negotiation_id}/cosignatures",
                         {"size": result.size, "cosignature": line})
    except ParleyError as exc:
        client.__dict__["witness_error"] = exc
        log.warning("could not post the cosignature of %s at size %d: %s", result.negotiation_id, result.size, exc)
        return
    done[result.negotiation_id] = result.size


def witness_status(client: Client, negotiation_id: str, quorum: str | int = ALL, *,
                   sync: bool = True) -> WitnessStatus:
    """How far this client's verified copy of the log is cosigned by the negotiation's joined parties.

    Syncs first (unless ``sync=False``), then checks every served cosignature over the checkpoint
    bodies of *its own* verified log: a party shown another history by the relay cannot count.

    Raises:
        InputError: a bad quorum.  VerificationError: the sync refused what the relay served.
    """
    if sync:
        client.sync(negotiation_id)
    pinned = client.cache.checkpoint(negotiation_id)
    state = client.state(negotiation_id)
    size = 0 if pinned is None else pinned[0]
    cosigners = party_cosigners(state.members.values(), state.joined_parties())
    if size == 0:
        return evaluate(0, lambda _m: "", [], cosigners, quorum)
    reader = client.cache.node_reader(negotiation_id)
    origin = client.origin(negotiation_id)

    def body_at(m: int) -> str:
        return Checkpoint(origin, m, merkle.root_from_nodes(m, reader)).to_text()

    answer = client.conn.get(f"/v1/negotiations/{negotiation_id}/cosignatures", to_size=size)
    rows = [(item.get("size"), item.get("cosignature")) for item in answer.get("cosignatures", [])
            if isinstance(item, dict)]
    return evaluate(size, body_at, rows, cosigners, quorum)


def require_witnessed(client: Client, negotiation_id: str, quorum: str | int = ALL,
                      at_least: int | None = None) -> WitnessStatus:
    """The witness status, or an error if the log is not final under ``quorum``.

    Raises:
        NotWitnessedError: fewer parties than ``quorum`` cosigned this client's verified log.
    """
    status = witness_status(client, negotiation_id, quorum)
    require_final(status, at_least)
    return status


def witness_evidence(client: Client, negotiation_id: str, *, from_size: int = 1) -> list[dict]:
    """For each joined party, its newest cosignature over this client's verified log (of a size in
    ``[from_size, size]``), with what an offline verifier needs: the cosigned checkpoint body, the
    cosigner's verifier key and a consistency proof from that size to this client's checkpoint.
    For the publication bundle. Parties with no such cosignature are left out."""
    from parley.tlog.cosignature import cosigned_by

    pinned = client.cache.checkpoint(negotiation_id)
    if pinned is None or pinned[0] == 0:
        return []
    size = pinned[0]
    state = client.state(negotiation_id)
    cosigners = party_cosigners(state.members.values(), state.joined_parties())
    reader = client.cache.node_reader(negotiation_id)
    origin = client.origin(negotiation_id)
    answer = client.conn.get(f"/v1/negotiations/{negotiation_id}/cosignatures", from_size=from_size, to_size=size)
    evidence: dict[str, dict] = {}
    for item in answer.get("cosignatures", []):
        row_size, line = item.get("size"), item.get("cosignature")
        if not (isinstance(row_size, int) and from_size <= row_size <= size and isinstance(line, str)):
            continue
        body = Checkpoint(origin, row_size, merkle.root_from_nodes(row_size, reader)).to_text()
        for party, keys in cosigners.items():
            if party in evidence and evidence[party]["size"] >= row_size:
                continue
            for key in keys:
                if cosigned_by(body, [line], {party: [key]}):
                    proof = merkle.consistency_proof(row_size, size, reader) if row_size < size else []
                    evidence[party] = {"party_id": party, "party": state.parties[party].record.name,
                                       "size": row_size, "checkpoint": body, "cosignature": line,
                                       "cosigner_vkey": key.vkey(),
                                       "consistency_proof": [base64.b64encode(p).decode() for p in proof]}
                    break
    return [evidence[p] for p in sorted(evidence)]
