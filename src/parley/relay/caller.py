"""What every route shares: the relay of the app, the signed caller (a FastAPI dependency), the request
body read within its limits, and the checks of who may read a negotiation."""

from __future__ import annotations

import asyncio
import base64
import functools
import json
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from parley.errors import ForbiddenError, InputError, LimitError, NotFoundError, ParleyError, ReplayError
from parley.protocol.identity import MemberCertificate, PartyRecord, root_chain
from parley.protocol.state import NegotiationState
from parley.relay.auth import Caller, NeedsDatabase, authenticate
from parley.relay.ingest import ADMITTED, REMOVED, admission_in
from parley.relay.limits import SlowRequestError
from parley.relay.state import Relay
from parley.settings import Limits
from parley.store.relay_store import NegotiationHead

#: the largest log position or size a query may name: within a signed 64-bit database integer
MAX_POSITION = 2**62


def relay_of(request: Request) -> Relay:
    """The relay this app serves (a dependency of every route)."""
    return request.app.state.relay


RelayDep = Annotated[Relay, Depends(relay_of)]


@dataclass(frozen=True)
class Signed:
    """An authenticated request: who signed it, and the body its signature covers."""

    caller: Caller
    body: bytes


async def authenticated(request: Request, *, enrol_keys: dict[str, MemberCertificate] | None = None,
                        persist_nonce: bool = True) -> Signed:
    """Read the body (within the limits) and check the request's RFC 9421 signature, then take a token
    from the device's rate bucket. ``persist_nonce=False`` for event posts (the event is its own nonce).

    Raises:
        AuthError, ReplayError: unsigned, forged, expired or replayed.
        LimitError, SlowRequestError: the body is too big or too slow.
        RateLimitError: the device is over its rate.
    """
    relay: Relay = request.app.state.relay
    body = await read_body(request, relay.limits)
    relay._loop = relay._loop or asyncio.get_running_loop()
    arguments = {"store": relay.store, "nonces": relay.nonces, "method": request.method, "url": str(request.url),
                 "headers": request.headers.items(), "body": body, "now": relay.clock(),
                 "max_age_seconds": relay.limits.max_request_age_seconds, "extra_keys": enrol_keys,
                 "persist_nonce": persist_nonce}
    try:
        # A known device and nothing to store: about 0.15 ms, most of it an Ed25519 check that releases
        # the GIL, so no thread hop. Anything needing the database goes to a worker thread.
        caller = authenticate(**arguments, database=False)
    except NeedsDatabase:
        caller = await run_in_threadpool(functools.partial(authenticate, **arguments))
    relay.metrics.requests_authenticated.inc()
    request.scope["parley.device"] = caller.device_key_id  # for the request log, with log_ids only
    relay.rate_limiter.take(caller.device_key_id)  # after authentication: only a device drains its bucket
    return Signed(caller, body)


async def _signed(request: Request) -> Signed:
    return await authenticated(request)


async def _signed_keeping_nonce_for_later(request: Request) -> Signed:
    return await authenticated(request, persist_nonce=False)


#: the caller of a route that stores the request's nonce at once
SignedRequest = Annotated[Signed, Depends(_signed)]
#: the caller of a route that stores the nonce itself (with the event it appends or the page it logs)
SignedDeferredNonce = Annotated[Signed, Depends(_signed_keeping_nonce_for_later)]


async def read_body(request: Request, limits: Limits) -> bytes:
    """The request body, at most ``limits.max_request_bytes`` within ``limits.max_body_seconds``.

    Raises:
        LimitError: over the size limit. SlowRequestError: too slow.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limits.max_request_bytes:
        raise LimitError(f"request body is over {limits.max_request_bytes} bytes")
    chunks, total = [], 0
    try:  # a slow client (slowloris on the body) is cut off: uvicorn itself has no body timeout
        # asyncio.timeout, not wait_for per chunk: no task created per chunk (a tenth of a post's time)
        async with asyncio.timeout(limits.max_body_seconds):
            async for chunk in request.stream():
                total += len(chunk)
                if total > limits.max_request_bytes:
                    raise LimitError(f"request body is over {limits.max_request_bytes} bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise SlowRequestError(f"the request body did not arrive within {limits.max_body_seconds:g} s") from None
    body = b"".join(chunks)
    request._body = body  # let later readers (none today) see the same bytes
    return body


def json_object(raw: bytes, fields: set[str]) -> dict[str, Any]:
    """A JSON object with exactly ``fields``. Raises: InputError."""
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: hostile nesting such as "[[[[..."
        raise InputError("request body is not valid JSON") from None
    if not isinstance(obj, dict) or set(obj) != fields:
        raise InputError(f"request body must be a JSON object with the fields {sorted(fields)}")
    return obj


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


async def party_root(relay: Relay, party_id: str) -> str:
    """The party's current root key (after its rotations). Raises: NotFoundError."""
    found = await run_in_threadpool(relay.store.get_party, party_id)
    if found is None:
        raise NotFoundError("no such party")
    rotations = await run_in_threadpool(relay.store.party_rotations, party_id)
    return root_chain(PartyRecord.from_obj(json.loads(found[0])), [json.loads(r) for r in rotations])[-1]


async def head_of(relay: Relay, negotiation_id: str) -> NegotiationHead:
    """Raises: NotFoundError."""
    head = await run_in_threadpool(relay.store.head, negotiation_id)
    if head is None:
        raise NotFoundError("no such negotiation")
    return head


def _admits(state: NegotiationState, caller: Caller) -> bool:
    party = state.parties.get(caller.party_id)
    return party is not None and party.status != "left" and caller.device_key_id not in state.revoked


async def require_reader(relay: Relay, caller: Caller, negotiation_id: str, *, for_post: bool = False) -> None:
    """Defence in depth: only devices of parties in the negotiation, not removed in its log, may use it.

    Raises:
        NotFoundError: no such negotiation (also said to outsiders, so ids are not confirmed).
        ForbiddenError: a removed member.
    """
    # Fast path for posts: the writer checks membership again, authoritatively, against the caught-up state,
    # so a cached state that already admits this device saves a database read per request. A cached state
    # that does not admit it may be stale (a join through another relay process): ask the database.
    # A post through a worker catches that worker's state up (it checks authors' signatures with it); a read
    # asks the current state (a worker asks the writer's) without catching anything up.
    cached = relay.ingestor.cached_state(negotiation_id) if for_post else None
    if cached is not None and _admits(cached, caller):
        return
    if for_post:
        verdict = admission_in(await run_in_threadpool(relay.ingestor.state, negotiation_id),
                               caller.party_id, caller.device_key_id)
    else:
        verdict = await run_in_threadpool(relay.ingestor.admission, negotiation_id, caller.party_id,
                                          caller.device_key_id)
    raise_unless_admitted(verdict)


def raise_unless_admitted(verdict: str) -> None:
    """Raises: ForbiddenError for a removed device, NotFoundError for anyone else not admitted."""
    if verdict == REMOVED:
        raise ForbiddenError("this device was removed from the negotiation")
    if verdict != ADMITTED:
        raise NotFoundError("no such negotiation")


@asynccontextmanager
async def nonce_kept_on_refusal(relay: Relay, caller: Caller):  # noqa: ANN201
    """A request refused before its nonce is stored with its work stores the nonce anyway (its own
    transaction, as for every other request), so the refused request cannot be replayed elsewhere."""
    try:
        yield
    except ReplayError:
        raise  # the nonce is stored already: that is what refused the request
    except ParleyError:
        await run_in_threadpool(relay.store.remember_nonce, caller.device_key_id, caller.nonce,
                                caller.nonce_expires_at)
        raise
