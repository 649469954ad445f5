"""Several devices per person: a device linked by a short code (no party root key online), seen by other
parties as the same person's; removed from any remaining device. Attacks: a relay inserting a device, a
delegate linking a device to a colleague's membership, a removed device posting."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from parley.client.devices import finish_link, link_device, list_devices, remove_device, request_link
from parley.client.sdk import Client
from parley.crypto.keys import EncryptionKey, SigningKey, new_nonce
from parley.crypto.linking import link_slot, normalize_link_code
from parley.errors import (
    AuthError,
    ForbiddenError,
    ParleyError,
    ProtocolError,
    RelayRefusal,
    TrustError,
    VerificationError,
)
from parley.protocol.events import Audience, Envelope, build_header, sign_header
from parley.protocol.identity import MemberCertificate
from parley.protocol.state import MEMBER_ADD


def _link(world, holder: Client, tmp_path: Path, name: str = "phone") -> Client:  # noqa: ANN001
    pending = request_link(tmp_path / name, "http://relay", label=name, passphrase=None, transport=world.transport)
    link_device(holder, pending.code)
    client = finish_link(pending, passphrase=None, transport=world.transport, clock=world.clock)
    world.clients.append(client)
    return client


def test_device_linked_by_a_short_code_is_the_same_person_to_other_parties(trio, world,  # noqa: ANN001
                                                                          tmp_path: Path) -> None:
    laptop = trio.ukraine
    phone = _link(world, laptop, tmp_path)
    assert laptop.identity.root is not None and phone.identity.root is None  # the root key never travelled
    cert = phone.identity.certificate
    assert (cert.member, cert.role, cert.person_id) == (laptop.profile.member, "head",
                                                        laptop.identity.device_key_id)
    assert phone.profile.trust.keys() == laptop.profile.trust.keys()
    assert all(p.verified for p in phone.profile.trust.values())
    phone.send_message(trio.nid, "from the phone, in Istanbul")
    laptop.send_message(trio.nid, "from the laptop")
    trio.russia.sync(trio.nid)
    seen = trio.russia.messages(trio.nid)
    assert [(m["author"], m["content"]["text"]) for m in seen[-2:]] == [
        ("Head of delegation", "from the phone, in Istanbul"), ("Head of delegation", "from the laptop")]
    state = trio.russia.state(trio.nid)
    assert {c.device_key_id for c in state.devices_of(phone.identity.device_key_id)} == {
        laptop.identity.device_key_id, phone.identity.device_key_id}
    phone.sync(trio.nid)
    assert phone.messages(trio.nid)[-1]["content"]["text"] == "from the laptop"
    assert {d["device_key_id"] for d in list_devices(phone)} == {laptop.identity.device_key_id,
                                                                phone.identity.device_key_id}


def test_mistyped_or_expired_code_links_nothing(trio, world, tmp_path: Path) -> None:  # noqa: ANN001
    pending = request_link(tmp_path / "phone", "http://relay", passphrase=None, transport=world.transport)
    other = normalize_link_code("0000-0000-0000-0000")
    with pytest.raises(ParleyError, match="no pending device link"):
        link_device(trio.ukraine, other)
    assert link_slot(other) != pending.slot


def test_relay_swapping_the_new_devices_keys_is_caught_by_the_code(trio, world,  # noqa: ANN001
                                                                   tmp_path: Path) -> None:
    pending = request_link(tmp_path / "phone", "http://relay", passphrase=None, transport=world.transport)
    # The relay puts its own keys in the waiting request (it sees the slot, not the code).
    from sqlalchemy import update

    from parley.store import schema

    with world.store._write() as conn:
        request = json.loads(conn.execute(schema.link_slots.select().where(
            schema.link_slots.c.slot == pending.slot)).first().request)
        request["signing_key"], request["encryption_key"] = SigningKey.generate().public_b64, \
            EncryptionKey.generate().recipient
        conn.execute(update(schema.link_slots).where(schema.link_slots.c.slot == pending.slot)
                     .values(request=json.dumps(request)))
    with pytest.raises(VerificationError, match="does not match the code"):
        link_device(trio.ukraine, pending.code)
    _, certs = trio.ukraine.fetch_party(trio.ukraine.profile.party.party_id)
    assert len(certs) == 1


def test_relay_inserted_device_is_refused(trio, world) -> None:  # noqa: ANN001
    """The relay certifies a key of its own as a linked device of Ukraine's head (it holds no device key of
    Ukraine, so it signs with its own) and serves it in the directory: refused by every check."""
    head = trio.ukraine.identity.certificate
    relay_key = SigningKey.generate()
    now = world.clock.now
    forged = MemberCertificate(party_id=head.party_id, member=head.member, role=head.role,
                               signing_key=relay_key.public_b64, encryption_key=EncryptionKey.generate().recipient,
                               not_before=head.not_before, not_after=head.not_after, signature="",
                               linked_by=head.to_obj())
    from parley.crypto.canonical import sign_canonical

    forged = MemberCertificate(**{**forged.__dict__, "signature": sign_canonical(relay_key, forged.signed_part())})
    party_id = head.party_id
    # Straight into the relay's directory (the operator writes its own database) ...
    world.store.add_device(forged.device_key_id, party_id, json.dumps(forged.to_obj()))
    with pytest.raises(TrustError, match="not signed by the device"):
        trio.russia.fetch_party(party_id)
    # ... and through the API, by any member of the party: the relay refuses it too.
    with pytest.raises(RelayRefusal):
        trio.ukraine.conn.post(f"/v1/parties/{party_id}/devices", {"certificate": forged.to_obj()})
    # In a negotiation: a member.add naming it is refused by the protocol core (relay and clients alike).
    with pytest.raises(RelayRefusal):
        trio.ukraine._post_public(trio.nid, MEMBER_ADD, {"certificate": forged.to_obj()})
    assert forged.device_key_id not in trio.russia.sync_state(trio.nid).members
    del now


def test_delegate_linking_a_device_to_a_colleagues_membership_is_refused(trio, world,  # noqa: ANN001
                                                                        tmp_path: Path) -> None:
    delegate = world.member(trio.ukraine, "Delegate", role="delegate")
    for client in (delegate, trio.russia, trio.swiss):
        client.sync(trio.nid)
    head = trio.ukraine.identity.certificate
    mine = SigningKey.generate()
    # (a) the delegate's own key, claiming the head's membership (head's name and role): not its member.
    as_head = MemberCertificate.link(delegate.identity.signing, delegate.identity.certificate,
                                     signing_key=mine.public_b64, encryption_key=EncryptionKey.generate().recipient,
                                     not_before=world.clock.now, not_after=world.clock.now + timedelta(days=1))
    from parley.crypto.canonical import sign_canonical

    claimed = MemberCertificate(**{**as_head.__dict__, "member": head.member, "role": "head", "signature": ""})
    claimed = MemberCertificate(**{**claimed.__dict__,
                                   "signature": sign_canonical(delegate.identity.signing, claimed.signed_part())})
    # (b) naming the head's device as certifier, signed by the delegate's key.
    under_head = MemberCertificate(**{**claimed.__dict__, "linked_by": head.to_obj(), "signature": ""})
    under_head = MemberCertificate(**{**under_head.__dict__,
                                      "signature": sign_canonical(delegate.identity.signing, under_head.signed_part())})
    party_id = head.party_id
    for forged, why in ((claimed, "its own member only"), (under_head, "not signed by the device")):
        with pytest.raises(TrustError, match=why):
            from parley.protocol.identity import verify_certificate

            verify_certificate(forged, trio.ukraine.profile.party.root_key)
        with pytest.raises(RelayRefusal):
            delegate.conn.post(f"/v1/parties/{party_id}/devices", {"certificate": forged.to_obj()})
        with pytest.raises(RelayRefusal):
            delegate._post_public(trio.nid, MEMBER_ADD, {"certificate": forged.to_obj()})
    # And the code path a person uses cannot remove a colleague's device either.
    with pytest.raises(ForbiddenError, match="belongs to"):
        remove_device(delegate, trio.ukraine.identity.device_key_id)


def test_removed_device_later_posts_are_refused(trio, world, tmp_path: Path) -> None:  # noqa: ANN001
    laptop = trio.ukraine
    phone = _link(world, laptop, tmp_path)
    phone.send_message(trio.nid, "before it was lost")
    # The phone is lost: one command on the laptop.
    remove_device(laptop, phone.identity.device_key_id)
    with pytest.raises((AuthError, ProtocolError, RelayRefusal)):
        phone.send_message(trio.nid, "after it was lost")
    assert phone.identity.device_key_id not in {d["device_key_id"] for d in list_devices(laptop)}
    # A post the finder signs with the phone's key, handed to any client's rule book, is refused too.
    state = trio.russia.sync_state(trio.nid)
    assert phone.identity.device_key_id in state.revoked
    world.clock.now += timedelta(seconds=1)
    header = build_header(nonce=new_nonce(), negotiation=trio.nid, author=phone.identity.device_key_id, created=world.clock.now,
                          audience=Audience(tuple(state.joined_parties())), prev=state.head,
                          public={"type": "statement.public", "content": {"text": "forged"}}, authority="head")
    with pytest.raises(ProtocolError, match="not a current member"):
        state.accept(Envelope(header, sign_header(phone.identity.signing, header), ()))
    texts = [m["content"]["text"] for m in trio.russia.messages(trio.nid)]
    assert "before it was lost" in texts and "after it was lost" not in texts


def test_lost_laptop_removed_from_the_phone(trio, world, tmp_path: Path) -> None:  # noqa: ANN001
    laptop = trio.ukraine
    phone = _link(world, laptop, tmp_path)
    remove_device(phone, laptop.identity.device_key_id, reason="laptop stolen in transit")
    with pytest.raises((AuthError, ProtocolError)):
        laptop.send_message(trio.nid, "the thief writes")
    phone.send_message(trio.nid, "still here, on the phone")
    trio.russia.sync(trio.nid)
    assert trio.russia.messages(trio.nid)[-1]["content"]["text"] == "still here, on the phone"
    # The directory serves the phone's revocation, verified to the party root; every negotiation has it.
    from parley.client.membership import carry_membership, directory_revocations

    assert [r.by for r in directory_revocations(phone, laptop.profile.party.party_id, [
        laptop.profile.party.root_key])] == [phone.identity.device_key_id]
    assert carry_membership(phone) == []
    # The stolen laptop cannot link a device of its own any more.
    pending = request_link(tmp_path / "thief", "http://relay", passphrase=None, transport=world.transport)
    with pytest.raises(ParleyError):
        link_device(laptop, pending.code)


def test_party_root_limits_the_number_of_devices(trio, world, tmp_path: Path) -> None:  # noqa: ANN001
    laptop = trio.ukraine
    allowed = laptop.identity.certificate.max_devices
    for n in range(allowed - 1):
        _link(world, laptop, tmp_path, f"device-{n}")
    pending = request_link(tmp_path / "one-too-many", "http://relay", passphrase=None, transport=world.transport)
    with pytest.raises(ForbiddenError, match="devices the party root allowed"):
        link_device(laptop, pending.code)
