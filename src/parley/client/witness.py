"""The client as a witness: it cosigns the checkpoints it verified, and tells how far its verified
log is cosigned by the other parties (see ``parley.protocol.witness`` and docs/tlog.md).

Reading never posts. The cosignature a device owes is that of the newest checkpoint it verified, when
the relay has not acknowledged one of that size yet (``ClientCache.cosigned_size``: it survives the
process). It travels inside the device's next event post (``post_event``), or on its own route when the
party witnesses without acting (``cosign``, ``parley witness cosign``).
"""

from __future__ import annotations

import base64
import json
import logging
from typing import TYPE_CHECKING, Any

from parley.errors import InputError, RelayRefusal
from parley.protocol.witness import ALL, WitnessStatus, party_cosigners, require_final, witness_name
from parley.protocol.witness import witness_status as evaluate
from parley.tlog import merkle
from parley.tlog.checkpoint import Checkpoint
from parley.tlog.cosignature import cosign as cosign_checkpoint

if TYPE_CHECKING:
    from parley.client.sdk import Client

log = logging.getLogger(__name__)


def owed_cosignature(client: Client, negotiation_id: str) -> dict[str, Any] | None:
    """This device's cosignature of the newest checkpoint it verified, signed now, as the relay takes it
    (``{"size", "cosignature"}``); None when the relay acknowledged one of that size already, when nothing
    was verified yet, or when the client does not witness (``client.witness = False``)."""
    if not getattr(client, "witness", True):
        return None
    return _owed(client, negotiation_id)


def _owed(client: Client, negotiation_id: str) -> dict[str, Any] | None:
    pinned = client.cache.checkpoint(negotiation_id)
    if pinned is None or pinned[0] == 0 or pinned[0] <= client.cache.cosigned_size(negotiation_id):
        return None
    size, root, _ = pinned
    body = Checkpoint(client.origin(negotiation_id), size, root).to_text()
    line = cosign_checkpoint(body, witness_name(client.identity.device_key_id), client.identity.signing.private,
                             int(client.clock().timestamp()))
    return {"size": size, "cosignature": line}


def post_event(client: Client, negotiation_id: str, raw: bytes) -> dict[str, Any]:
    """Post an event's wire form with the cosignature this device owes inside it (one request for both).

    The relay checks that cosignature as its cosignature route does and refuses the post if it fails.
    A relay cannot honestly refuse it (the device verified that checkpoint from the relay's signed log,
    signed it no later than the event's own time), so the act is not held hostage: the event is sent
    again without it, and the cosignature is owed still (``witness_error`` keeps the refusal).

    Raises:
        TransportError / the relay's refusal of the event, as ``RelayConnection.post``.
    """
    path = f"/v1/negotiations/{negotiation_id}/events"
    owed = owed_cosignature(client, negotiation_id)
    if owed is None:
        return client.conn.post(path, raw=raw)
    carried = json.dumps(owed, separators=(",", ":")).encode()
    try:
        # The wire form is one JSON object: the cosignature goes in as one more member.
        answer = client.conn.post(path, raw=raw[:-1] + b',"cosignature":' + carried + b"}")
    except (InputError, RelayRefusal) as exc:
        client.__dict__["witness_error"] = exc
        log.warning("the relay refused a post carrying the cosignature of %s at size %d (%s): posting the "
                    "event alone", negotiation_id, owed["size"], exc)
        return client.conn.post(path, raw=raw)
    # Inside an act the acknowledged size is committed with the act's next write (ClientCache.set_cosigned).
    client.cache.set_cosigned(negotiation_id, owed["size"], deferred=bool(getattr(client, "_acts", 0)))
    return answer


def cosign(client: Client, negotiation_id: str, *, sync: bool = True) -> int | None:
    """Witness without acting: sync (unless ``sync=False``), then post the cosignature this device owes on
    the relay's cosignature route. A deliberate act: reads never post, so a party that neither acts nor
    cosigns never makes a checkpoint final. Returns the size cosigned, or None when nothing was owed.

    Raises:
        TransportError: the relay is unreachable.  VerificationError: the sync refused what the relay
        served.  RelayRefusal / InputError: the relay refused the cosignature.
    """
    with client.one_act():
        if sync:
            client.sync(negotiation_id)
        owed = _owed(client, negotiation_id)
        if owed is None:
            return None
        client.conn.post(f"/v1/negotiations/{negotiation_id}/cosignatures", owed)
        client.cache.set_cosigned(negotiation_id, owed["size"])
        return owed["size"]


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
