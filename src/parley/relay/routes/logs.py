"""A negotiation's log as its members check it: checkpoint, inclusion and consistency proofs, access log."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from parley.errors import InputError, NotFoundError
from parley.protocol.events import Envelope, Header
from parley.relay.caller import MAX_POSITION, RelayDep, SignedRequest, b64, head_of, require_reader
from parley.relay.schemas import (
    ERROR_RESPONSES,
    AccessLog,
    Checkpoint,
    ConsistencyProof,
    InclusionProof,
    answer,
)
from parley.relay.state import Relay
from parley.tlog import merkle

router = APIRouter(responses=ERROR_RESPONSES)


@router.get("/v1/negotiations/{negotiation_id}/checkpoint", responses=answer(Checkpoint))
async def checkpoint(negotiation_id: str, signed: SignedRequest, relay: RelayDep) -> dict[str, Any]:
    await require_reader(relay, signed.caller, negotiation_id)
    head = await head_of(relay, negotiation_id)
    return {"size": head.size, "checkpoint": head.checkpoint}


@router.get("/v1/negotiations/{negotiation_id}/proof/inclusion", responses=answer(InclusionProof))
async def inclusion(negotiation_id: str, signed: SignedRequest, relay: RelayDep,
                    size: int = Query(..., ge=1, le=MAX_POSITION),
                    index: int | None = Query(None, ge=0, le=MAX_POSITION),
                    leaf_hash: str | None = Query(None)) -> dict[str, Any]:
    await require_reader(relay, signed.caller, negotiation_id)
    head = await head_of(relay, negotiation_id)
    if size > head.size:
        raise InputError(f"the log has {head.size} entries, not {size}")
    if index is None:
        if leaf_hash is None:
            raise InputError("give index or leaf_hash")
        index = await run_in_threadpool(_index_of_leaf, relay, negotiation_id, leaf_hash, size)
    if index >= size:
        raise InputError("index must be below size")
    proof = await run_in_threadpool(merkle.inclusion_proof, index, size, relay.store.node_reader(negotiation_id))
    return {"index": index, "size": size, "proof": [b64(p) for p in proof]}


@router.get("/v1/negotiations/{negotiation_id}/proof/consistency", responses=answer(ConsistencyProof))
async def consistency(negotiation_id: str, signed: SignedRequest, relay: RelayDep,
                      first: int = Query(..., ge=0, le=MAX_POSITION),
                      second: int = Query(..., ge=0, le=MAX_POSITION)) -> dict[str, Any]:
    await require_reader(relay, signed.caller, negotiation_id)
    head = await head_of(relay, negotiation_id)
    if not first <= second <= head.size:
        raise InputError(f"need first <= second <= {head.size}")
    proof = await run_in_threadpool(merkle.consistency_proof, first, second,
                                    relay.store.node_reader(negotiation_id))
    return {"first": first, "second": second, "proof": [b64(p) for p in proof]}


@router.get("/v1/negotiations/{negotiation_id}/access-log", responses=answer(AccessLog))
async def access_log(negotiation_id: str, signed: SignedRequest, relay: RelayDep,
                     after: int = Query(0, ge=0, le=MAX_POSITION)) -> dict[str, Any]:
    caller = signed.caller
    await require_reader(relay, caller, negotiation_id)
    return {"entries": await run_in_threadpool(_access_log, relay, negotiation_id, after, caller.party_id,
                                               caller.device_key_id)}


def _access_log(relay: Relay, negotiation_id: str, after: int, party: str, device: str) -> list[dict[str, Any]]:
    """The access log without the fetches of events hidden from ``party``: who fetched an event tells whom it was
    for. Raises: StorageError."""
    entries = relay.store.access_log(negotiation_id, after)
    if not entries:
        return entries
    first, last = min(e["seq"] for e in entries), max(e["seq"] for e in entries)
    hidden: set[int] = set()
    position = first - 1
    while position < last:
        # The caller's own device as reader: only its ciphertexts are read along with the headers.
        rows = relay.store.packed_page(negotiation_id, position, min(last - position, relay.limits.max_page_events),
                                       device, lambda rows, _blobs: rows)
        if not rows:
            break
        hidden |= relay.pages.hidden_from(negotiation_id, rows, party)
        position = rows[-1].seq
    return [e for e in entries if e["seq"] not in hidden]


def _index_of_leaf(relay: Relay, negotiation_id: str, leaf_hash: str, size: int) -> int:
    """Find a leaf by its hash (hex). Raises: NotFoundError, InputError."""
    try:
        wanted = bytes.fromhex(leaf_hash)
    except ValueError:
        raise InputError("leaf_hash must be hex") from None
    for row in relay.store.events(negotiation_id, -1, size, reader=None):
        leaf = merkle.leaf_hash(Envelope(Header.from_obj(json.loads(row.header)), row.signature).leaf_bytes())
        if leaf == wanted:
            return row.seq
    raise NotFoundError("no leaf with that hash in the log")
