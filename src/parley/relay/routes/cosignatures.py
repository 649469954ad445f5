"""Cosignatures of checkpoints by the parties' devices (C2SP tlog-cosignature, Ed25519 cosignature/v1).

``POST /v1/negotiations/{id}/cosignatures`` stores a member device's cosignature of the relay's
checkpoint at a size of the log; an event post may carry one too (``event_post_body``), checked and
kept by the same ``keep_cosignature``; ``GET`` serves them back. The relay checks each line over its
own checkpoint body for that size before keeping it (a junk filter: clients check every line
themselves, over the bodies of the log *they* verified, and a relay can always withhold lines).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from parley.errors import InputError, NotFoundError, VerificationError
from parley.protocol.events import Envelope
from parley.protocol.times import format_time
from parley.protocol.witness import device_cosigner
from parley.relay.auth import Caller
from parley.relay.caller import MAX_POSITION, RelayDep, SignedRequest, json_object, require_reader
from parley.relay.schemas import ERROR_RESPONSES, CosignatureAccepted, CosignatureList, answer, json_body
from parley.relay.state import Relay
from parley.settings import Limits
from parley.store.cosignatures import add_cosignature, cosignatures
from parley.tlog import merkle
from parley.tlog.checkpoint import Checkpoint, checkpoint_origin
from parley.tlog.cosignature import verify_cosignature

#: the longest line accepted: "— parley-witness/<64 hex> " and base64 of 76 bytes, with room to spare
MAX_LINE_CHARS = 400
COSIGNATURE_SCHEMA = {"type": "object", "required": ["size", "cosignature"], "properties": {
    "size": {"type": "integer", "minimum": 1}, "cosignature": {"type": "string", "maxLength": MAX_LINE_CHARS}}}

router = APIRouter(responses=ERROR_RESPONSES)


def _body_at(relay: Relay, negotiation_id: str, size: int) -> str:
    """The relay's own checkpoint body for the first ``size`` entries of the log.

    Raises: NotFoundError (no such negotiation), InputError (no such size yet).
    """
    head = relay.store.head(negotiation_id)
    if head is None:
        raise NotFoundError("no such negotiation")
    if not 1 <= size <= head.size:
        raise InputError(f"the log has {head.size} entries: no checkpoint of size {size}")
    # The head's own root when the size is the head's (an act's cosignature, mostly): no node to read.
    root = head.root if size == head.size else merkle.root_from_nodes(size, relay.store.node_reader(negotiation_id))
    return Checkpoint(checkpoint_origin(relay.name, negotiation_id), size, root).to_text()


@router.post("/v1/negotiations/{negotiation_id}/cosignatures", status_code=201,
             openapi_extra=json_body(COSIGNATURE_SCHEMA), responses=answer(CosignatureAccepted, 201))
async def post_cosignature(negotiation_id: str, signed: SignedRequest, relay: RelayDep) -> dict[str, Any]:
    """Keep the caller's cosignature of the checkpoint at ``size`` (it must verify under the caller's key)."""
    caller = signed.caller
    await require_reader(relay, caller, negotiation_id)
    size, line = cosignature_fields(json_object(signed.body, {"size", "cosignature"}))
    timestamp = await keep_cosignature(relay, caller, negotiation_id, size, line)
    return {"size": size, "timestamp": timestamp}


def cosignature_fields(obj: Any) -> tuple[int, str]:
    """The size and line of a posted cosignature (``{"size", "cosignature"}``), checked for shape only.

    Raises:
        InputError: not that object, a size that is not a positive integer, or a line too long.
    """
    if not isinstance(obj, dict) or set(obj) != {"size", "cosignature"}:
        raise InputError("a cosignature must be {size, cosignature}")
    size, line = obj["size"], obj["cosignature"]
    if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= MAX_POSITION:
        raise InputError("size must be a positive integer")
    if not isinstance(line, str) or len(line) > MAX_LINE_CHARS:
        raise InputError(f"cosignature must be one line of at most {MAX_LINE_CHARS} characters")
    return size, line


async def keep_cosignature(relay: Relay, caller: Caller, negotiation_id: str, size: int, line: str) -> int:
    """Check ``line`` over this relay's own checkpoint body at ``size`` under the caller's device key, then
    keep it. The one check of a cosignature, whether it comes on its own route or inside an event post.
    Returns its timestamp.

    Raises:
        NotFoundError: no such negotiation.  InputError: no checkpoint of that size yet, or a timestamp
        in the future.  VerificationError: not this device's cosignature of that checkpoint.
        StorageError: the database failed.
    """
    text = await run_in_threadpool(_body_at, relay, negotiation_id, size)
    try:
        timestamp = verify_cosignature(text, line, device_cosigner(caller.certificate))
    except VerificationError as exc:
        raise VerificationError(f"not a cosignature of this relay's checkpoint by this device: {exc.message}") from None
    now = relay.clock()
    if timestamp > now.timestamp() + relay.limits.max_clock_skew_seconds:
        raise InputError("the cosignature's timestamp is in the future")
    await run_in_threadpool(lambda: add_cosignature(
        relay.store, negotiation_id, size=size, device_key_id=caller.device_key_id, party_id=caller.party_id,
        timestamp=timestamp, line=line if line.endswith("\n") else line + "\n", received_at=format_time(now)))
    return timestamp


def event_post_body(body: bytes, limits: Limits) -> tuple[Envelope, tuple[int, str] | None]:
    """An event post's body: the event's wire form, with an optional ``"cosignature": {size, cosignature}``
    member (the author's cosignature of the newest checkpoint it verified: see docs/tlog.md).

    Raises:
        InputError / LimitError: malformed or too large (``Envelope.from_obj``, ``cosignature_fields``).
    """
    try:
        obj = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: hostile nesting such as "[[[[..."
        raise InputError("event is not valid JSON") from None
    carried = obj.pop("cosignature", None) if isinstance(obj, dict) else None
    envelope = Envelope.from_obj(obj, limits)
    return envelope, None if carried is None else cosignature_fields(carried)


@router.get("/v1/negotiations/{negotiation_id}/cosignatures", responses=answer(CosignatureList))
async def list_cosignatures(negotiation_id: str, signed: SignedRequest, relay: RelayDep,
                            from_size: int = Query(0, ge=0, le=MAX_POSITION),
                            to_size: int | None = Query(None, ge=0, le=MAX_POSITION)) -> dict[str, Any]:
    """Cosignatures of sizes in [from_size, to_size], largest size first."""
    await require_reader(relay, signed.caller, negotiation_id)
    rows = await run_in_threadpool(lambda: cosignatures(relay.store, negotiation_id, from_size=from_size,
                                                        to_size=to_size))
    return {"cosignatures": [{"size": r.size, "party_id": r.party_id, "device_key_id": r.device_key_id,
                              "timestamp": r.timestamp, "cosignature": r.line} for r in rows]}
