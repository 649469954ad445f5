"""The relay's HTTP API (FastAPI). Routes stay thin: rules live in ``parley.protocol``.

Errors: every ``ParleyError`` becomes ``{"error": code, "message": text}`` with
the status its class names, in one handler below.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import functools
import gc
import inspect
import json
import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from parley import __version__
from parley.crypto.canonical import canonical_bytes
from parley.errors import (
    AuthError,
    ForbiddenError,
    InputError,
    LimitError,
    NotFoundError,
    ParleyError,
    RateLimitError,
    ReplayError,
)
from parley.protocol.events import Envelope
from parley.protocol.identity import (
    MemberCertificate,
    PartyRecord,
    Revocation,
    RootRotation,
    root_chain,
    verify_certificate,
    verify_revocation,
    verify_rotation,
)
from parley.protocol.state import NegotiationState
from parley.protocol.times import format_time
from parley.relay.auth import Caller, NeedsDatabase, NonceCache, authenticate
from parley.relay.ingest import ADMITTED, REMOVED, Accepted, Ingestor, admission_in
from parley.relay.limits import RateLimiter, SlowRequestError
from parley.relay.listing import Page, PageWriter, read_page, server_timing
from parley.relay.sequencer import RemoteIngestor
from parley.settings import DEFAULT_LIMITS, Limits
from parley.store.relay_store import RelayStore
from parley.tlog import merkle
from parley.tlog.note import Signer

log = logging.getLogger(__name__)

#: the largest log position or size a query may name: within a signed 64-bit database integer
MAX_POSITION = 2**62
NEGOTIATION_ID_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789-")


class ErrorBody(BaseModel):
    """Every refusal: a machine-readable code and a message for a human."""

    error: str
    message: str


#: documented for every route (schemathesis checks answers against it); 429 also carries Retry-After
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text} for status, text in (
        (400, "Malformed request"), (401, "Unsigned, forged, expired or replayed request"),
        (403, "Authenticated but not allowed"), (404, "Not found (or not visible to the caller)"),
        (405, "Method not allowed"), (408, "Request body too slow"), (409, "Conflict"),
        (413, "Over a size limit"),
        (422, "Fails verification (signature, certificate, protocol rule)"),
        (429, "Rate limited; see Retry-After"), (503, "Storage unavailable"))}

# Request bodies are read as raw bytes (the RFC 9421 Content-Digest covers exactly them) and parsed by hand;
# these schemas only document them, so that clients and fuzzers (schemathesis) know their shape.
_OBJECT = {"type": "object"}
ENVELOPE_SCHEMA = {"type": "object", "required": ["header", "signature", "ciphertexts"], "properties": {
    "header": _OBJECT, "signature": {"type": "string"},
    "ciphertexts": {"type": "array", "items": {"type": ["string", "null"]}}}}
ENROL_SCHEMA = {"type": "object", "required": ["token", "party", "certificates"], "properties": {
    "token": {"type": "string"}, "party": _OBJECT, "certificates": {"type": "array", "items": _OBJECT}}}
CERTIFICATE_BODY_SCHEMA = {"type": "object", "required": ["certificate"], "properties": {"certificate": _OBJECT}}
ROTATION_BODY_SCHEMA = {"type": "object", "required": ["rotation"], "properties": {"rotation": _OBJECT}}
REVOCATION_BODY_SCHEMA = {"type": "object", "required": ["revocation"], "properties": {"revocation": _OBJECT}}


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class Relay:
    """Everything a route needs: storage, the writer, the checkpoint key, limits and the clock."""

    def __init__(self, store: RelayStore, signer: Signer, name: str, limits: Limits = DEFAULT_LIMITS,
                 clock: Callable[[], datetime] | None = None, writer: tuple[str, bytes] | None = None) -> None:
        """``writer``: the (address, key) of the writer process when this is one of several workers
        (``parley.relay.sequencer``); by default this process writes itself."""
        self.store = store
        self.signer = signer
        self.name = name
        self.limits = limits
        self.clock = clock or (lambda: datetime.now(UTC))
        self.nonces = NonceCache()
        self.metrics: Counter[str] = Counter()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: dict[str, asyncio.Event] = {}
        self._streams: Counter[str] = Counter()
        self.rate_limiter = RateLimiter(limits.rate_per_device, limits.rate_burst)
        self.pages = PageWriter(limits.max_page_cache_bytes)
        self.ingestor: Ingestor | RemoteIngestor
        if writer is None:
            self.ingestor = Ingestor(store, signer, name, limits, self.clock, on_commit=self._committed)
        else:
            self.ingestor = RemoteIngestor(store, limits, *writer, on_appended=self._committed)
        # Several relay processes on one PostgreSQL: appends and revocations of the others arrive by
        # LISTEN/NOTIFY (the writer sends NOTIFY in each batch's transaction, delivered at commit).
        self._listener = _Listener(self) if store.dialect == "postgresql" else None

    # live updates: the writer thread (or the NOTIFY listener) wakes stream handlers on the event loop
    def _committed(self, negotiation_id: str | None, size: int = 0) -> None:
        """``negotiation_id=None`` wakes every stream (after missed notifications)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            if negotiation_id is None:
                loop.call_soon_threadsafe(self._wake_all)
            else:
                loop.call_soon_threadsafe(self._wake, negotiation_id)

    def _wake_all(self) -> None:
        for negotiation_id in list(self._waiters):
            self._wake(negotiation_id)

    def _wake(self, negotiation_id: str) -> None:
        waiter = self._waiters.pop(negotiation_id, None)
        if waiter is not None:
            waiter.set()

    def waiter(self, negotiation_id: str) -> asyncio.Event:
        if negotiation_id not in self._waiters:
            self._waiters[negotiation_id] = asyncio.Event()
        return self._waiters[negotiation_id]

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
        self.ingestor.close()
        self.store.close()


class _Listener:
    """A thread holding one PostgreSQL connection that LISTENs on ``parley_events`` (payload: a
    negotiation id, sent by the writer of any relay process at commit) and ``parley_devices`` (a
    revoked device key id). Reconnects after a failure, then wakes every stream and drops every
    cached device row, since notifications may have been missed meanwhile."""

    CHANNELS = ("parley_events", "parley_devices")

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self._stop = threading.Event()
        self._conninfo = relay.store.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="parley-listen", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psycopg

        backoff = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5) as conn:
                    for channel in self.CHANNELS:
                        conn.execute(f"LISTEN {channel}")
                    self.relay.store.forget_device()
                    self.relay._committed(None)
                    self.ready.set()
                    backoff = 0.5
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=0.5):
                            if note.channel == "parley_events":
                                self.relay._committed(note.payload)
                            elif note.channel == "parley_devices":
                                self.relay.store.forget_device(note.payload)
            except Exception:  # noqa: BLE001 - keep listening whatever the database did
                if self._stop.is_set():
                    return
                log.warning("LISTEN connection lost; reconnecting", exc_info=True)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def create_app(relay: Relay) -> RelayApp:
    # Newer FastAPI versions look for an OpenTelemetry provider on every request (about 3 % of an event post);
    # the relay reports through its own /metrics, so that is switched off where the option exists.
    quiet = ({"telemetry": {"tracing": False, "metrics": False, "logs": False}}
             if "telemetry" in inspect.signature(FastAPI.__init__).parameters else {})
    app = RelayApp(title="parley relay", version=__version__,
                   description="Stores ciphertext and signed headers; orders them in per-negotiation Merkle logs.",
                   responses=ERROR_RESPONSES, **quiet)
    app.state.relay = relay

    @app.exception_handler(ParleyError)
    async def _parley_error(_request: Request, exc: ParleyError) -> JSONResponse:
        relay.metrics[f"errors_{exc.code}"] += 1
        headers = {"Retry-After": str(max(1, round(exc.retry_after)))} if isinstance(exc, RateLimitError) else None
        return JSONResponse({"error": exc.code, "message": exc.message}, status_code=exc.http_status, headers=headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "error")
        return JSONResponse({"error": code, "message": str(exc.detail)}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return JSONResponse({"error": "bad_input", "message": f"invalid request: {where}: {first.get('msg', '')}"},
                            status_code=400)

    async def caller_of(request: Request, *, enrol_keys: dict[str, MemberCertificate] | None = None,
                        persist_nonce: bool = True) -> tuple[Caller, bytes]:
        body = await _read_body(request, relay.limits)
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
        relay.metrics["requests_authenticated"] += 1
        relay.rate_limiter.take(caller.device_key_id)  # after authentication: only a device drains its bucket
        return caller, body

    # ---- unauthenticated ---------------------------------------------------------------------------
    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", response_class=PlainTextResponse)
    async def metrics() -> str:
        # With several workers these are the writer's counters, one round trip away: not on the event loop.
        accepted, batches = await run_in_threadpool(lambda: (relay.ingestor.events_accepted, relay.ingestor.batches))
        lines = [
            "# TYPE parley_events_accepted_total counter",
            f"parley_events_accepted_total {accepted}",
            "# TYPE parley_commit_batches_total counter",
            f"parley_commit_batches_total {batches}",
            "# TYPE parley_requests_authenticated_total counter",
            f"parley_requests_authenticated_total {relay.metrics['requests_authenticated']}",
            "# TYPE parley_errors_total counter",
        ]
        for key, value in sorted(relay.metrics.items()):
            if key.startswith("errors_"):
                lines.append(f'parley_errors_total{{code="{key[7:]}"}} {value}')
        # Of the process that answers (with several workers, one of them): see server.tune_garbage_collector.
        lines += ["# TYPE parley_gc_frozen_objects gauge", f"parley_gc_frozen_objects {gc.get_freeze_count()}",
                  "# TYPE parley_gc_collections_total counter"]
        lines += [f'parley_gc_collections_total{{generation="{generation}"}} {stats["collections"]}'
                  for generation, stats in enumerate(gc.get_stats())]
        return "\n".join(lines) + "\n"

    @app.get("/v1/relay")
    async def relay_info() -> dict[str, Any]:
        return {"name": relay.name, "vkey": relay.signer.vkey(), "protocol": 1, "version": __version__,
                "limits": {"max_request_bytes": relay.limits.max_request_bytes,
                           "max_ciphertext_bytes": relay.limits.max_ciphertext_bytes,
                           "max_page_events": relay.limits.max_page_events}}

    # ---- public pages: released agreements and public statements only ----------------------------
    @app.get("/public/agreements/{agreement_id}")
    async def public_agreement(agreement_id: str) -> dict[str, Any]:
        """A released agreement: canonical text, SSHSIG signatures and release consents of every party."""
        record = await run_in_threadpool(relay.store.public_record, "agreement", agreement_id)
        if record is None:
            raise NotFoundError("no released agreement with that id (agreements stay sealed until every party "
                                "has signed and consented to release)")
        head = await run_in_threadpool(relay.store.head, record["negotiation_id"])
        proof = await run_in_threadpool(merkle.inclusion_proof, record["seq"], head.size,
                                        relay.store.node_reader(record["negotiation_id"]))
        return {"agreement": json.loads(record["content"]), "negotiation_id": record["negotiation_id"],
                "seq": record["seq"], "checkpoint": head.checkpoint, "inclusion_proof": [_b64(p) for p in proof],
                "relay_vkey": relay.signer.vkey()}

    @app.get("/public/statements")
    async def public_statements() -> dict[str, Any]:
        """Public statements (joint communiqués) of every negotiation, newest first."""
        rows = await run_in_threadpool(relay.store.public_records, "statement")
        return {"statements": [{"negotiation_id": r["negotiation_id"], "seq": r["seq"],
                                **json.loads(r["content"])} for r in rows]}

    # ---- directory ---------------------------------------------------------------------------------
    @app.post("/v1/parties", status_code=201, openapi_extra=_json_body(ENROL_SCHEMA))
    async def enrol_party(request: Request) -> dict[str, Any]:
        """Enrol a party with a one-time token from the operator. Signed by one of the enclosed devices."""
        raw = await _read_body(request, relay.limits)
        obj = _json_object(raw, {"token", "party", "certificates"})
        record = PartyRecord.from_obj(obj["party"])
        if not isinstance(obj["certificates"], list) or not obj["certificates"] or len(obj["certificates"]) > 64:
            raise InputError("certificates must be a non-empty list")
        certs = [MemberCertificate.from_obj(c) for c in obj["certificates"]]
        for cert in certs:
            verify_certificate(cert, record.root_key)
        enrol_keys = {c.device_key_id: c for c in certs}
        caller, _ = await caller_of(request, enrol_keys=enrol_keys)
        if caller.device_key_id not in enrol_keys:  # proof of possession of an enrolled key, not any member's
            raise AuthError("an enrolment must be signed by a device certified in it")
        if not isinstance(obj["token"], str) or len(obj["token"]) > 200:
            raise InputError("token must be a string")
        await run_in_threadpool(
            relay.store.enrol_party, obj["token"], record.party_id, record.name, json.dumps(record.to_obj()),
            [(c.device_key_id, json.dumps(c.to_obj())) for c in certs], format_time(relay.clock()))
        return {"party_id": record.party_id, "devices": [c.device_key_id for c in certs]}

    @app.get("/v1/parties")
    async def list_parties(request: Request) -> dict[str, Any]:
        await caller_of(request)
        records = await run_in_threadpool(relay.store.list_parties)
        return {"parties": [json.loads(r) for r in records]}

    @app.get("/v1/parties/{party_id}")
    async def get_party(party_id: str, request: Request) -> dict[str, Any]:
        await caller_of(request)
        found = await run_in_threadpool(relay.store.get_party, party_id)
        if found is None:
            raise NotFoundError("no such party")
        record, devices = found
        rotations = await run_in_threadpool(relay.store.party_rotations, party_id)
        return {"party": json.loads(record), "rotations": [json.loads(r) for r in rotations], "devices": [
            {"certificate": json.loads(d.certificate), "revoked_at": d.revoked_at} for d in devices]}

    @app.post("/v1/parties/{party_id}/devices", status_code=201, openapi_extra=_json_body(CERTIFICATE_BODY_SCHEMA))
    async def add_device(party_id: str, request: Request) -> dict[str, Any]:
        caller, body = await caller_of(request)
        if caller.party_id != party_id:
            raise ForbiddenError("only a member of a party can register its devices")
        cert = MemberCertificate.from_obj(_json_object(body, {"certificate"})["certificate"])
        root_key = await _party_root(relay, party_id)
        verify_certificate(cert, root_key, party_id=party_id)
        await run_in_threadpool(relay.store.add_device, cert.device_key_id, party_id, json.dumps(cert.to_obj()))
        return {"device_key_id": cert.device_key_id}

    @app.post("/v1/parties/{party_id}/revocations", openapi_extra=_json_body(REVOCATION_BODY_SCHEMA))
    async def revoke_device(party_id: str, request: Request) -> dict[str, Any]:
        caller, body = await caller_of(request)
        if caller.party_id != party_id:
            raise ForbiddenError("only a member of a party can post its revocations")
        revocation = Revocation.from_obj(_json_object(body, {"revocation"})["revocation"])
        verify_revocation(revocation, await _party_root(relay, party_id), party_id=party_id)
        device = await run_in_threadpool(relay.store.get_device, revocation.device_key_id)
        if device is None or device.party_id != party_id:
            raise NotFoundError("no such device in this party")
        await run_in_threadpool(relay.store.revoke_device, revocation.device_key_id, revocation.revoked_at,
                                json.dumps(revocation.to_obj()))
        relay.ingestor.device_revoked(revocation.device_key_id)
        return {"device_key_id": revocation.device_key_id, "revoked_at": revocation.revoked_at}

    @app.post("/v1/parties/{party_id}/rotations", status_code=201, openapi_extra=_json_body(ROTATION_BODY_SCHEMA))
    async def rotate_root(party_id: str, request: Request) -> dict[str, Any]:
        """Record a root key rotation signed by the current root and the new one (a head of the party posts it)."""
        caller, body = await caller_of(request)
        if caller.party_id != party_id or caller.certificate.role != "head":
            raise ForbiddenError("only a head of delegation of the party can record its root rotation")
        rotation = RootRotation.from_obj(_json_object(body, {"rotation"})["rotation"])
        found = await run_in_threadpool(relay.store.get_party, party_id)
        if found is None:
            raise NotFoundError("no such party")
        rotations = await run_in_threadpool(relay.store.party_rotations, party_id)
        chain = root_chain(PartyRecord.from_obj(json.loads(found[0])), [json.loads(r) for r in rotations])
        verify_rotation(rotation, party_id, chain[-1])
        await run_in_threadpool(relay.store.add_party_rotation, party_id, len(rotations),
                                json.dumps(rotation.to_obj()))
        return {"party_id": party_id, "root_key": rotation.new_root_key}

    # ---- negotiations -------------------------------------------------------------------------------
    @app.get("/v1/negotiations")
    async def my_negotiations(request: Request) -> dict[str, Any]:
        caller, _ = await caller_of(request)
        heads = await run_in_threadpool(relay.store.negotiations_of_party, caller.party_id)
        return {"negotiations": [{"negotiation_id": h.negotiation_id, "size": h.size} for h in heads]}

    @app.post("/v1/negotiations", status_code=201, openapi_extra=_json_body(ENVELOPE_SCHEMA))
    async def create_negotiation(request: Request) -> dict[str, Any]:
        caller, body = await caller_of(request, persist_nonce=False)  # the event is the nonce: see _post
        envelope = Envelope.from_json(body, relay.limits)
        negotiation_id = envelope.header.negotiation
        if not (8 <= len(negotiation_id) <= 64 and set(negotiation_id) <= NEGOTIATION_ID_CHARS):
            raise InputError("a negotiation id is 8 to 64 characters of a-z, 0-9 and '-'")
        return await _post(relay, caller, envelope, create=True)

    # The hot route: no parameters for FastAPI to validate (the path parameter is declared for the schema only)
    # and the answer serialised once by orjson; together about 40 µs of a post's time.
    @app.post("/v1/negotiations/{negotiation_id}/events", status_code=201,
              openapi_extra={**_json_body(ENVELOPE_SCHEMA), "parameters": [
                  {"name": "negotiation_id", "in": "path", "required": True, "schema": {"type": "string"}}]},
              response_model=None)
    async def post_event(request: Request) -> Response:
        negotiation_id: str = request.path_params["negotiation_id"]
        caller, body = await caller_of(request, persist_nonce=False)  # the event is the nonce: see _post
        envelope = Envelope.from_json(body, relay.limits)
        if envelope.header.negotiation != negotiation_id:
            raise InputError("the event names another negotiation than the URL")
        await _require_reader(relay, caller, negotiation_id, for_post=True)
        return Response(orjson.dumps(await _post(relay, caller, envelope, create=False)), status_code=201,
                        media_type="application/json")

    @app.get("/v1/negotiations/{negotiation_id}/events")
    async def list_events(negotiation_id: str, request: Request, after: int = Query(-1, ge=-1, le=MAX_POSITION),
                          limit: int = Query(1000, ge=1, le=10_000)) -> Response:
        # The request nonce is stored with the page's access-log rows: one commit per listing.
        caller, _ = await caller_of(request, persist_nonce=False)
        async with _nonce_kept_on_refusal(relay, caller):
            page = await run_in_threadpool(_listing, relay, caller, negotiation_id, after, limit, keep_nonce=True)
        # Where the relay's time went (ms), for operators and the benchmarks: see docs/operator-guide.md
        return Response(page.body, media_type="application/json",
                        headers={"Server-Timing": server_timing(page.timings)})

    @app.get("/v1/negotiations/{negotiation_id}/stream")
    async def stream_events(negotiation_id: str, request: Request, after: int = Query(-1, ge=-1, le=MAX_POSITION)) -> StreamingResponse:
        caller, _ = await caller_of(request)
        await _require_reader(relay, caller, negotiation_id)
        if relay._streams[caller.device_key_id] >= relay.limits.max_streams_per_device:
            raise RateLimitError(f"at most {relay.limits.max_streams_per_device} live streams per device",
                                 retry_after=5)
        relay._streams[caller.device_key_id] += 1

        async def events():
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

    @app.get("/v1/negotiations/{negotiation_id}/checkpoint")
    async def checkpoint(negotiation_id: str, request: Request) -> dict[str, Any]:
        caller, _ = await caller_of(request)
        await _require_reader(relay, caller, negotiation_id)
        head = await _head(relay, negotiation_id)
        return {"size": head.size, "checkpoint": head.checkpoint}

    @app.get("/v1/negotiations/{negotiation_id}/proof/inclusion")
    async def inclusion(negotiation_id: str, request: Request, size: int = Query(..., ge=1, le=MAX_POSITION),
                        index: int | None = Query(None, ge=0, le=MAX_POSITION), leaf_hash: str | None = Query(None)) -> dict[str, Any]:
        caller, _ = await caller_of(request)
        await _require_reader(relay, caller, negotiation_id)
        head = await _head(relay, negotiation_id)
        if size > head.size:
            raise InputError(f"the log has {head.size} entries, not {size}")
        if index is None:
            if leaf_hash is None:
                raise InputError("give index or leaf_hash")
            index = await run_in_threadpool(_index_of_leaf, relay, negotiation_id, leaf_hash, size)
        if index >= size:
            raise InputError("index must be below size")
        proof = await run_in_threadpool(merkle.inclusion_proof, index, size, relay.store.node_reader(negotiation_id))
        return {"index": index, "size": size, "proof": [_b64(p) for p in proof]}

    @app.get("/v1/negotiations/{negotiation_id}/proof/consistency")
    async def consistency(negotiation_id: str, request: Request, first: int = Query(..., ge=0, le=MAX_POSITION),
                          second: int = Query(..., ge=0, le=MAX_POSITION)) -> dict[str, Any]:
        caller, _ = await caller_of(request)
        await _require_reader(relay, caller, negotiation_id)
        head = await _head(relay, negotiation_id)
        if not first <= second <= head.size:
            raise InputError(f"need first <= second <= {head.size}")
        proof = await run_in_threadpool(merkle.consistency_proof, first, second,
                                        relay.store.node_reader(negotiation_id))
        return {"first": first, "second": second, "proof": [_b64(p) for p in proof]}

    @app.get("/v1/negotiations/{negotiation_id}/access-log")
    async def access_log(negotiation_id: str, request: Request, after: int = Query(0, ge=0, le=MAX_POSITION)) -> dict[str, Any]:
        caller, _ = await caller_of(request)
        await _require_reader(relay, caller, negotiation_id)
        return {"entries": await run_in_threadpool(relay.store.access_log, negotiation_id, after)}

    # The event post skips the middleware stack, the router and FastAPI's request handling (the route
    # above stays declared, for the OpenAPI schema and for RelayApp.event_post = None).
    app.event_post = _EventPostFastPath(post_event, _parley_error)
    return app


_EVENT_POST_PATH = re.compile(r"/v1/negotiations/([^/]+)/events")


class RelayApp(FastAPI):
    """The relay's FastAPI app, with one shortcut: ``POST /v1/negotiations/{id}/events``, nearly every request
    under load, goes to its handler (``event_post``) before Starlette's middleware stack and router, which
    cost about a tenth of a post's time on the event loop; every other request takes the usual way."""

    #: the shortcut for event posts; None sends them through the router like any other request
    event_post: _EventPostFastPath | None = None

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        fast = self.event_post
        if (fast is not None and scope["type"] == "http" and scope["method"] == "POST" and not self.root_path
                and not scope.get("root_path")):
            match = _EVENT_POST_PATH.fullmatch(scope["path"])
            if match is not None:
                scope["app"] = self
                scope["path_params"] = {"negotiation_id": match.group(1)}
                await fast(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


class _EventPostFastPath:
    """The event post's handler as a bare ASGI call: the same handler and the same error answers
    (``on_error``) as through the router, and for anything unexpected the plain 500 that Starlette's
    outermost middleware gives, the error then going on to the server's log."""

    def __init__(self, endpoint: Callable[[Request], Any], on_error: Callable[..., Any]) -> None:
        self.endpoint = endpoint
        self.on_error = on_error

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        request = Request(scope, receive)
        try:
            response = await self.endpoint(request)
        except ParleyError as exc:
            response = await self.on_error(request, exc)
        except Exception:
            await PlainTextResponse("Internal Server Error", status_code=500)(scope, receive, send)
            raise
        await response(scope, receive, send)


# ---- helpers ------------------------------------------------------------------------------------------
async def _read_body(request: Request, limits: Limits) -> bytes:
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


def _json_object(raw: bytes, fields: set[str]) -> dict[str, Any]:
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: hostile nesting such as "[[[[..."
        raise InputError("request body is not valid JSON") from None
    if not isinstance(obj, dict) or set(obj) != fields:
        raise InputError(f"request body must be a JSON object with the fields {sorted(fields)}")
    return obj


async def _party_root(relay: Relay, party_id: str) -> str:
    found = await run_in_threadpool(relay.store.get_party, party_id)
    if found is None:
        raise NotFoundError("no such party")
    rotations = await run_in_threadpool(relay.store.party_rotations, party_id)
    return root_chain(PartyRecord.from_obj(json.loads(found[0])), [json.loads(r) for r in rotations])[-1]


async def _head(relay: Relay, negotiation_id: str):  # noqa: ANN202
    head = await run_in_threadpool(relay.store.head, negotiation_id)
    if head is None:
        raise NotFoundError("no such negotiation")
    return head


def _admits(state: NegotiationState, caller: Caller) -> bool:
    party = state.parties.get(caller.party_id)
    return party is not None and party.status != "left" and caller.device_key_id not in state.revoked


async def _require_reader(relay: Relay, caller: Caller, negotiation_id: str, *, for_post: bool = False) -> None:
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
    _raise_unless_admitted(verdict)


def _raise_unless_admitted(verdict: str) -> None:
    """Raises: ForbiddenError for a removed device, NotFoundError for anyone else not admitted."""
    if verdict == REMOVED:
        raise ForbiddenError("this device was removed from the negotiation")
    if verdict != ADMITTED:
        raise NotFoundError("no such negotiation")


@asynccontextmanager
async def _nonce_kept_on_refusal(relay: Relay, caller: Caller):  # noqa: ANN202
    """A post refused before it reaches the writer still stores its nonce (its own transaction, as
    for every other request), so the refused request cannot be replayed through another process."""
    try:
        yield
    except ReplayError:
        raise  # the nonce is stored already: that is what refused the request
    except ParleyError:
        await run_in_threadpool(relay.store.remember_nonce, caller.device_key_id, caller.nonce,
                                caller.nonce_expires_at)
        raise


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
            "inclusion_proof": [_b64(p) for p in accepted.inclusion_proof]}


def _listing(relay: Relay, caller: Caller, negotiation_id: str, after: int, limit: int, *,
             keep_nonce: bool = False) -> Page:
    """A page of events for ``caller``, if the negotiation admits it. The head is read once: the page is cut
    at it, and the caller is judged by a state that holds every event up to it (so a removal that commits
    while the page is read cannot let the page run past it). With ``keep_nonce`` the request's nonce is
    stored in the page's access-log transaction.

    Raises:
        NotFoundError: no such negotiation, or the caller's party is not in it.
        ForbiddenError: the caller's device was removed from it.
        ReplayError: a replayed listing request.
    """
    started = time.perf_counter()
    head = relay.store.head(negotiation_id)
    if head is None:
        raise NotFoundError("no such negotiation")
    _raise_unless_admitted(relay.ingestor.admission(negotiation_id, caller.party_id, caller.device_key_id, head))
    admitted = time.perf_counter()
    nonce = (caller.device_key_id, caller.nonce, caller.nonce_expires_at) if keep_nonce else None
    page = read_page(relay.store, relay.pages, head, after, min(limit, relay.limits.max_page_events),
                     caller.device_key_id, format_time(relay.clock()), nonce)
    return dataclasses.replace(page, timings={"admission": (admitted - started) * 1000, **page.timings})


def _index_of_leaf(relay: Relay, negotiation_id: str, leaf_hash: str, size: int) -> int:
    """Find a leaf by its hash (hex). Raises: NotFoundError, InputError."""
    try:
        wanted = bytes.fromhex(leaf_hash)
    except ValueError:
        raise InputError("leaf_hash must be hex") from None
    for row in relay.store.events(negotiation_id, -1, size, reader=None):
        leaf = merkle.leaf_hash(canonical_bytes({"header": json.loads(row.header), "signature": row.signature}))
        if leaf == wanted:
            return row.seq
    raise NotFoundError("no leaf with that hash in the log")
