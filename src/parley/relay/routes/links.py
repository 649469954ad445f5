"""The device-link mailbox: two short messages between a new device and one its person already holds.

The new device has no certificate yet, so it posts its request and reads the answer unsigned
(``/link/{slot}``); the existing device reads the request and posts the answer signed
(``/v1/links/{slot}``). Both messages are authenticated end to end by the link code the person typed
(``parley.crypto.linking``), which the relay never sees: the relay is only a mailbox (``parley.store.links``,
in its database, so every relay process sees it) for ``LINK_SECONDS``, at most ``MAX_PENDING_LINKS`` at a
time, each message small and of its declared shape (``LinkRequestMessage``, ``LinkAnswerMessage`` in
``parley.relay.schemas``: what the devices' clients write and read).
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from parley.errors import InputError, LimitError, NotFoundError
from parley.relay.caller import RelayDep, SignedRequest, json_object, read_body
from parley.relay.schemas import (
    ERROR_RESPONSES,
    LINK_ANSWER_SCHEMA,
    LINK_REQUEST_SCHEMA,
    LinkAnswerMessage,
    LinkMessage,
    LinkRequestMessage,
    answer,
    json_body,
)
from parley.store import links

router = APIRouter(responses=ERROR_RESPONSES)

LINK_SECONDS = 600
MAX_PENDING_LINKS = 1000
MAX_REQUEST_BYTES = 4 * 1024
MAX_ANSWER_BYTES = 512 * 1024
_SLOT = re.compile(r"^[0-9a-f]{64}$")


def _now(relay: Any) -> int:
    return int(relay.clock().timestamp())


def _slot(slot: str) -> str:
    if not _SLOT.match(slot):
        raise NotFoundError("no such link slot")
    return slot


async def _small_json(request: Request, relay: Any, limit: int, field: str) -> Any:
    raw = await read_body(request, relay.limits)
    if len(raw) > limit:
        raise LimitError(f"a device link message holds at most {limit} bytes")
    return json_object(raw, {field})[field]


def _declared(model: type[BaseModel], message: Any, what: str) -> dict[str, Any]:  # noqa: ANN401
    """``message`` as it came, once it has ``model``'s shape (the relay reads it no further: the link code
    authenticates it end to end).

    Raises:
        InputError: another shape.
    """
    if not isinstance(message, dict):
        raise InputError(f"a {what} is a JSON object")
    try:
        model.model_validate(message)
    except ValidationError as refused:
        first = refused.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the message"
        raise InputError(f"a malformed {what}: {where}: {first['msg']}") from None
    return message


@router.post("/link/{slot}", status_code=201, openapi_extra=json_body(LINK_REQUEST_SCHEMA),
             responses=answer(LinkMessage, 201, "Waiting"))
async def post_link_request(slot: str, request: Request, relay: RelayDep) -> dict[str, Any]:
    """A new device leaves its public keys (authenticated by the link code, which the relay never sees)."""
    slot = _slot(slot)
    body = _declared(LinkRequestMessage, await _small_json(request, relay, MAX_REQUEST_BYTES, "request"),
                     "link request")
    await run_in_threadpool(links.put_request, relay.store, slot, json.dumps(body), now=_now(relay),
                            seconds=LINK_SECONDS, max_pending=MAX_PENDING_LINKS)
    return {"slot": slot, "message": body}


@router.get("/v1/links/{slot}", responses=answer(LinkMessage))
async def get_link_request(slot: str, signed: SignedRequest, relay: RelayDep) -> dict[str, Any]:
    """A device of an enrolled member reads a new device's request (it checks it against the code)."""
    slot = _slot(slot)
    return {"slot": slot, "message": json.loads(await run_in_threadpool(links.request_of, relay.store, slot,
                                                                        now=_now(relay)))}


@router.post("/v1/links/{slot}/answer", status_code=201, openapi_extra=json_body(LINK_ANSWER_SCHEMA),
             responses=answer(LinkMessage, 201, "Answered"))
async def post_link_answer(slot: str, signed: SignedRequest, relay: RelayDep) -> dict[str, Any]:
    """The existing device's answer: the new certificate and the profile, encrypted to the new device."""
    slot = _slot(slot)
    if len(signed.body) > MAX_ANSWER_BYTES:
        raise LimitError(f"a device link answer holds at most {MAX_ANSWER_BYTES} bytes")
    body = _declared(LinkAnswerMessage, json_object(signed.body, {"answer"})["answer"], "link answer")
    await run_in_threadpool(links.put_answer, relay.store, slot, json.dumps(body), now=_now(relay))
    return {"slot": slot, "message": body}


@router.get("/link/{slot}/answer", responses=answer(LinkMessage))
async def get_link_answer(slot: str, relay: RelayDep) -> dict[str, Any]:
    """The new device collects the answer (once)."""
    slot = _slot(slot)
    return {"slot": slot, "message": json.loads(await run_in_threadpool(links.take_answer, relay.store, slot,
                                                                        now=_now(relay)))}
