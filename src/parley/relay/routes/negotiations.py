"""Negotiations: create one, post events, list them, stream them live.

``post_event`` is the relay's hot route: ``RelayApp`` sends event posts to it directly, past Starlette's
error middleware and router (see ``parley.relay.app``), so it takes the bare ``Request`` and
authenticates the caller itself.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from parley.errors import ForbiddenError, InputError, NotFoundError, RateLimitError
from parley.protocol.events import Envelope
from parley.protocol.times import format_time
from parley.relay.auth import Caller
from parley.relay.caller import (
    MAX_POSITION,
    RelayDep,
    SignedDeferredNonce,
    SignedRequest,
    authenticated,
    b64,
    nonce_kept_on_refusal,
    raise_unless_admitted,
    require_reader,
)
from parley.relay.ingest import Accepted
from parley.relay.listing import Page, read_page, server_timing
from parley.relay.routes.cosignatures import event_post_body, keep_cosignature
from parley.relay.schemas import (
    ENVELOPE_SCHEMA,
    ERROR_RESPONSES,
    EVENT_POST_SCHEMA,
    AcceptedEvent,
    EventPage,
    Negotiations,
    answer,
    json_body,
)
from parley.relay.sequencer import RemoteIngestor
from parley.relay.state import Relay
from parley.tlog import merkle

router = APIRouter(responses=ERROR_RESPONSES)

NEGOTIATION_ID_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-")


@router.get("/v1/negotiations", responses=answer(Negotiations))
async def my_negotiations(signed: SignedRequest, relay: RelayDep) -> dict[str, Any]:
    heads = await run_in_threadpool(relay.store.negotiations_of_party, signed.caller.party_id)
    return {"negotiations": [{"negotiation_id": h.negotiation_id, "size": h.size} for h in heads]}


@router.post("/v1/negotiations", status_code=201, openapi_extra=json_body(ENVELOPE_SCHEMA),
             responses=answer(AcceptedEvent, 201, "Created with its genesis event"))
async def create_negotiation(signed: SignedDeferredNonce, relay: RelayDep) -> dict[str, Any]:
    envelope = Envelope.from_json(signed.body, relay.limits)  # the event is the nonce: see _post
    negotiation_id = envelope.header.negotiation
    if not (8 <= len(negotiation_id) <= 64 and set(negotiation_id) <= NEGOTIATION_ID_CHARS):
        raise InputError("a negotiation id is 8 to 64 characters of a-z, 0-9 and '-'")
    return await _post(relay, signed.caller, envelope, create=True)


# The hot route: no parameters for FastAPI to validate (the path parameter is declared for the schema only)
# and the answer serialised once by orjson; together about 40 µs of a post's time.
@router.post("/v1/negotiations/{negotiation_id}/events", status_code=201,
             openapi_extra={**json_body(EVENT_POST_SCHEMA), "parameters": [
                 {"name": "negotiation_id", "in": "path", "required": True, "schema": {"type": "string"}}]},
             response_model=None, responses=answer(AcceptedEvent, 201, "Appended"))
async def post_event(request: Request) -> Response:
    relay: Relay = request.app.state.relay
    negotiation_id: str = request.path_params["negotiation_id"]
    signed = await authenticated(request, persist_nonce=False)  # the event is the nonce: see _post
    envelope, cosignature = event_post_body(signed.body, relay.limits)
    if envelope.header.negotiation != negotiation_id:
        raise InputError("the event names another negotiation than the URL")
    await require_reader(relay, signed.caller, negotiation_id, for_post=True)
    if cosignature is not None:
        # The author's cosignature of the newest checkpoint it verified travels with its act (docs/tlog.md):
        # checked and kept as on its own route, before the event, so a refused one refuses the whole post
        # and nothing is half done. It is evidence about the log, not part of it: kept even if the rule book
        # then refuses the event, as a post of it alone would have kept it.
        await keep_cosignature(relay, signed.caller, negotiation_id, *cosignature)
    return Response(orjson.dumps(await _post(relay, signed.caller, envelope, create=False)), status_code=201,
                    media_type="application/json")


@router.get("/v1/negotiations/{negotiation_id}/events", responses=answer(EventPage))
async def list_events(negotiation_id: str, signed: SignedDeferredNonce, relay: RelayDep,
                      after: int = Query(-1, ge=-1, le=MAX_POSITION),
                      limit: int = Query(1000, ge=1, le=10_000),
                      consistency_from: int | None = Query(
                          None, ge=0, le=MAX_POSITION,
                          description="Also answer the consistency proof from this size of the log to the "
                                      "checkpoint served (the size the client verified last): a sync is then "
                                      "one round trip.")) -> Response:
    # The request nonce is stored with the page's access-log rows: one commit per listing.
    async with nonce_kept_on_refusal(relay, signed.caller):
        page = await run_in_threadpool(_listing, relay, signed.caller, negotiation_id, after, limit,
                                       keep_nonce=True, consistency_from=consistency_from)
    # Where the relay's time went (ms), for operators and the benchmarks: see docs/operator-guide.md
    return Response(page.body, media_type="application/json",
                    headers={"Server-Timing": server_timing(page.timings)})


@router.get("/v1/negotiations/{negotiation_id}/stream")
async def stream_events(negotiation_id: str, request: Request, signed: SignedRequest, relay: RelayDep,
                        after: int = Query(-1, ge=-1, le=MAX_POSITION)) -> StreamingResponse:
    caller = signed.caller
    await require_reader(relay, caller, negotiation_id)
    if relay._streams[caller.device_key_id] >= relay.limits.max_streams_per_device:
        raise RateLimitError(f"at most {relay.limits.max_streams_per_device} live streams per device",
                             retry_after=5)
    relay._streams[caller.device_key_id] += 1

    async def events():  # noqa: ANN202
        position = after
        try:
            yield ": parley stream\n\n"
            while True:
                waiter = relay.waiter(negotiation_id)
                try:  # each page admitted again: a device removed meanwhile gets nothing more
                    page = await run_in_threadpool(_listing, relay, caller, negotiation_id, position,
                                                   relay.limits.max_page_events)
                except (NotFoundError, ForbiddenError):
                    # A comment, then the end: a reconnecting client is told why (403 or 404).
                    yield ": closed: this device may no longer read the negotiation\n\n"
                    return
                if page.last_seq is not None:
                    position = page.last_seq
                    yield b"event: events\ndata: " + page.body + b"\n\n"
                    continue
                if await request.is_disconnected():
                    return
                try:
                    await asyncio.wait_for(waiter.wait(), timeout=15)
                except TimeoutError:
                    yield ": keep-alive\n\n"
        finally:
            relay._streams[caller.device_key_id] -= 1

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def _post(relay: Relay, caller: Caller, envelope: Envelope, *, create: bool) -> dict[str, Any]:
    """Append an event. Its request's nonce is not stored: the event is its own nonce. Its signed header
    carries 16 random bytes, and the log refuses an event id it already holds (the rule book, backed by the
    unique index on negotiation and event id), for ever rather than for the minutes a request nonce is kept.
    A resent post is refused at once by this process's nonce cache, and by the log in any other process;
    only what its author signed can be appended, and only once. Raises: ParleyError from the rule book."""
    if envelope.header.author != caller.device_key_id:
        raise ForbiddenError("an event must be authored by the device that signs the request")
    verified_key = None
    if isinstance(relay.ingestor, RemoteIngestor):
        # One of several workers: the author's signature is checked here, on this worker's core, when
        # its key is known (a join or a genesis certifies its author inside the event: the writer checks
        # those). The writer skips its own check only if the key is the author's in its state.
        state = relay.ingestor.cached_state(envelope.header.negotiation)
        author = state.members.get(envelope.header.author) if state is not None else None
        if author is not None:
            envelope.verify_signature(author.signing_key)
            verified_key = author.signing_key
    accepted: Accepted = await asyncio.wrap_future(
        relay.ingestor.submit(envelope, create=create, verified_key=verified_key))
    # Every member fetches it next: its first listing finds it written.
    relay.pages.remember_posted(accepted.negotiation_id, accepted.seq, accepted.stored, envelope.header_bytes,
                                envelope.signature, len(envelope.header.ciphertexts))
    return {"negotiation_id": accepted.negotiation_id, "seq": accepted.seq, "event_id": accepted.event_id,
            "size": accepted.size, "checkpoint": accepted.checkpoint,
            "inclusion_proof": [b64(p) for p in accepted.inclusion_proof], "received_at": accepted.stored[2]}


def _listing(relay: Relay, caller: Caller, negotiation_id: str, after: int, limit: int, *,
             keep_nonce: bool = False, consistency_from: int | None = None) -> Page:
    """A page of events for ``caller``, if the negotiation admits it. The head is read once: the page is cut
    at it, and the caller is judged by a state that holds every event up to it (so a removal that commits
    while the page is read cannot let the page run past it). With ``keep_nonce`` the request's nonce is
    stored in the page's access-log transaction. With ``consistency_from`` the page also carries the
    consistency proof from that size to the head (null when the head is smaller: the client sees a
    rollback, which no proof could show otherwise).

    Raises:
        NotFoundError: no such negotiation, or the caller's party is not in it.
        ForbiddenError: the caller's device was removed from it.
        ReplayError: a replayed listing request.
    """
    started = time.perf_counter()
    head = relay.store.head(negotiation_id)
    if head is None:
        raise NotFoundError("no such negotiation")
    raise_unless_admitted(relay.ingestor.admission(negotiation_id, caller.party_id, caller.device_key_id, head))
    admitted = time.perf_counter()
    nonce = (caller.device_key_id, caller.nonce, caller.nonce_expires_at) if keep_nonce else None
    page = read_page(relay.store, relay.pages, head, after, min(limit, relay.limits.max_page_events),
                     caller.device_key_id, format_time(relay.clock()), nonce, max_bytes=relay.limits.max_page_bytes,
                     reader_party=caller.party_id)
    timings = {"admission": (admitted - started) * 1000, **page.timings}
    if consistency_from is not None:
        proof = None
        if consistency_from <= head.size:
            proof = [b64(p) for p in merkle.consistency_proof(consistency_from, head.size,
                                                              relay.store.node_reader(negotiation_id))]
        # The page is JSON bytes ending in "}": the proof goes in as one more member.
        page = dataclasses.replace(page, body=page.body[:-1] + b',"consistency_proof":' + orjson.dumps(proof) + b"}")
        timings["proof"] = (time.perf_counter() - admitted) * 1000 - sum(page.timings.values())
    return dataclasses.replace(page, timings=timings)
