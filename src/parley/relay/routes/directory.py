"""The directory: enrolment of parties, their devices, revocations and root rotations."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from parley.errors import AuthError, ForbiddenError, InputError, NotFoundError
from parley.protocol.identity import (
    MemberCertificate,
    PartyRecord,
    Revocation,
    RootRotation,
    root_chain,
    verify_certificate,
    verify_device_revocation,
    verify_revocation,
    verify_rotation,
)
from parley.protocol.times import format_time
from parley.relay.caller import RelayDep, SignedRequest, authenticated, json_object, party_root, read_body
from parley.relay.schemas import (
    CERTIFICATE_BODY_SCHEMA,
    ENROL_SCHEMA,
    ERROR_RESPONSES,
    REVOCATION_BODY_SCHEMA,
    ROTATION_BODY_SCHEMA,
    DeviceAdded,
    DeviceRevoked,
    Enrolled,
    Parties,
    PartyEntry,
    RootRotated,
    answer,
    json_body,
)

router = APIRouter(responses=ERROR_RESPONSES)


@router.post("/v1/parties", status_code=201, openapi_extra=json_body(ENROL_SCHEMA),
             responses=answer(Enrolled, 201, "Enrolled"))
async def enrol_party(request: Request, relay: RelayDep) -> dict[str, Any]:
    """Enrol a party with a one-time token from the operator. Signed by one of the enclosed devices."""
    raw = await read_body(request, relay.limits)
    obj = json_object(raw, {"token", "party", "certificates"})
    record = PartyRecord.from_obj(obj["party"])
    if not isinstance(obj["certificates"], list) or not obj["certificates"] or len(obj["certificates"]) > 64:
        raise InputError("certificates must be a non-empty list")
    certs = [MemberCertificate.from_obj(c) for c in obj["certificates"]]
    for cert in certs:
        verify_certificate(cert, record.root_key)
    enrol_keys = {c.device_key_id: c for c in certs}
    caller = (await authenticated(request, enrol_keys=enrol_keys)).caller
    if caller.device_key_id not in enrol_keys:  # proof of possession of an enrolled key, not any member's
        raise AuthError("an enrolment must be signed by a device certified in it")
    if not isinstance(obj["token"], str) or len(obj["token"]) > 200:
        raise InputError("token must be a string")
    await run_in_threadpool(
        relay.store.enrol_party, obj["token"], record.party_id, record.name, json.dumps(record.to_obj()),
        [(c.device_key_id, json.dumps(c.to_obj())) for c in certs], format_time(relay.clock()))
    return {"party_id": record.party_id, "devices": [c.device_key_id for c in certs]}


@router.get("/v1/parties", responses=answer(Parties))
async def list_parties(signed: SignedRequest, relay: RelayDep) -> dict[str, Any]:
    records = await run_in_threadpool(relay.store.list_parties)
    return {"parties": [json.loads(r) for r in records]}


@router.get("/v1/parties/{party_id}", responses=answer(PartyEntry))
async def get_party(party_id: str, signed: SignedRequest, relay: RelayDep) -> dict[str, Any]:
    found = await run_in_threadpool(relay.store.get_party, party_id)
    if found is None:
        raise NotFoundError("no such party")
    record, devices = found
    rotations = await run_in_threadpool(relay.store.party_rotations, party_id)
    return {"party": json.loads(record), "rotations": [json.loads(r) for r in rotations], "devices": [
        {"certificate": json.loads(d.certificate), "revoked_at": d.revoked_at,
         "revocation": None if d.revocation is None else json.loads(d.revocation)} for d in devices]}


@router.post("/v1/parties/{party_id}/devices", status_code=201, openapi_extra=json_body(CERTIFICATE_BODY_SCHEMA),
             responses=answer(DeviceAdded, 201, "Registered"))
async def add_device(party_id: str, signed: SignedRequest, relay: RelayDep) -> dict[str, Any]:
    if signed.caller.party_id != party_id:
        raise ForbiddenError("only a member of a party can register its devices")
    cert = MemberCertificate.from_obj(json_object(signed.body, {"certificate"})["certificate"])
    root_key = await party_root(relay, party_id)
    verify_certificate(cert, root_key, party_id=party_id)
    if cert.linked_by is not None:
        await run_in_threadpool(_check_link, relay, party_id, cert)
    await run_in_threadpool(relay.store.add_device, cert.device_key_id, party_id, json.dumps(cert.to_obj()))
    return {"device_key_id": cert.device_key_id}


def _party_devices(relay: Any, party_id: str) -> list[tuple[MemberCertificate, str | None]]:
    found = relay.store.get_party(party_id)
    if found is None:
        raise NotFoundError("no such party")
    return [(MemberCertificate.from_obj(json.loads(d.certificate)), d.revoked_at) for d in found[1]]


def _check_link(relay: Any, party_id: str, cert: MemberCertificate) -> None:
    """A linked device (its chain verified): its certifier is a current device of the party, and the person
    stays within the devices the party root allowed.

    Raises:
        ForbiddenError: a certifier unknown or revoked, or one device too many.
    """
    devices = _party_devices(relay, party_id)
    current = {c.device_key_id: c for c, revoked_at in devices if revoked_at is None}
    if cert.parent.device_key_id not in current:
        raise ForbiddenError("the device that linked this one is not a current device of the party")
    allowed = cert.anchor.max_devices or 1
    if sum(1 for c in current.values() if c.person_id == cert.person_id) >= allowed:
        raise ForbiddenError(f"'{cert.member}' already has the {allowed} devices the party root allowed")


@router.post("/v1/parties/{party_id}/revocations", openapi_extra=json_body(REVOCATION_BODY_SCHEMA),
             responses=answer(DeviceRevoked))
async def revoke_device(party_id: str, signed: SignedRequest, relay: RelayDep) -> dict[str, Any]:
    if signed.caller.party_id != party_id:
        raise ForbiddenError("only a member of a party can post its revocations")
    revocation = Revocation.from_obj(json_object(signed.body, {"revocation"})["revocation"])
    device = await run_in_threadpool(relay.store.get_device, revocation.device_key_id)
    if device is None or device.party_id != party_id:
        raise NotFoundError("no such device in this party")
    target = MemberCertificate.from_obj(json.loads(device.certificate))
    if revocation.by is None:
        verify_revocation(revocation, await party_root(relay, party_id), party_id=party_id)
        # The root removing a person's root-issued device removes every device linked from it.
        devices = await run_in_threadpool(_party_devices, relay, party_id)
        gone = [c.device_key_id for c, revoked_at in devices
                if revoked_at is None and revocation.device_key_id in c.chain_ids()]
        gone = gone or [revocation.device_key_id]
    else:
        if signed.caller.device_key_id != revocation.by:
            raise ForbiddenError("a device's revocation is posted by the revoking device itself")
        verify_device_revocation(revocation, signed.caller.certificate, target)
        gone = [revocation.device_key_id]
    for device_key_id in gone:
        await run_in_threadpool(relay.store.revoke_device, device_key_id, revocation.revoked_at,
                                json.dumps(revocation.to_obj()))
        relay.ingestor.device_revoked(device_key_id)
    return {"device_key_id": revocation.device_key_id, "revoked_at": revocation.revoked_at}


@router.post("/v1/parties/{party_id}/rotations", status_code=201, openapi_extra=json_body(ROTATION_BODY_SCHEMA),
             responses=answer(RootRotated, 201, "Recorded"))
async def rotate_root(party_id: str, signed: SignedRequest, relay: RelayDep) -> dict[str, Any]:
    """Record a root key rotation signed by the current root and the new one (a head of the party posts it)."""
    caller = signed.caller
    if caller.party_id != party_id or caller.certificate.role != "head":
        raise ForbiddenError("only a head of delegation of the party can record its root rotation")
    rotation = RootRotation.from_obj(json_object(signed.body, {"rotation"})["rotation"])
    found = await run_in_threadpool(relay.store.get_party, party_id)
    if found is None:
        raise NotFoundError("no such party")
    rotations = await run_in_threadpool(relay.store.party_rotations, party_id)
    chain = root_chain(PartyRecord.from_obj(json.loads(found[0])), [json.loads(r) for r in rotations])
    verify_rotation(rotation, party_id, chain[-1])
    await run_in_threadpool(relay.store.add_party_rotation, party_id, len(rotations),
                            json.dumps(rotation.to_obj()))
    return {"party_id": party_id, "root_key": rotation.new_root_key}
