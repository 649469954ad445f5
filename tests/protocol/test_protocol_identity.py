"""Party records, member certificates and revocations: issue, verify, and the relay's forgeries."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from protocol_builders import NOW, Party

from parley.crypto.keys import EncryptionKey, SigningKey
from parley.errors import InputError, TrustError
from parley.protocol.identity import (
    MemberCertificate,
    PartyRecord,
    Revocation,
    verify_certificate,
    verify_revocation,
)


@pytest.fixture
def party() -> Party:
    return Party.create("Ukraine")


def test_party_record_round_trip_verifies_self_signature(party: Party) -> None:
    record = PartyRecord.from_obj(party.record.to_obj())
    assert record == party.record
    assert record.party_id == party.root.key_id
    assert record.root_key == party.root.public_b64


def test_party_record_with_other_name_is_rejected(party: Party) -> None:
    obj = {**party.record.to_obj(), "name": "Someone else"}
    with pytest.raises(TrustError, match="not signed"):
        PartyRecord.from_obj(obj)


def test_party_record_with_swapped_root_key_is_rejected(party: Party) -> None:
    other = SigningKey.generate()
    obj = {**party.record.to_obj(), "root_key": other.public_b64}
    with pytest.raises(TrustError, match="party id does not match"):
        PartyRecord.from_obj(obj)


@pytest.mark.parametrize("change", [{"extra": 1}, {"type": "parley.party.v0"}, {"name": ""}, {"name": "a\x00b"}])
def test_party_record_malformed(party: Party, change: dict) -> None:
    with pytest.raises(InputError):
        PartyRecord.from_obj({**party.record.to_obj(), **change})


def test_certificate_issue_and_verify(party: Party) -> None:
    device = party.device("Delegate", role="delegate")
    cert = MemberCertificate.from_obj(device.cert.to_obj())
    assert cert == device.cert
    assert cert.device_key_id == device.signing.key_id
    assert cert.party_id == party.id
    verify_certificate(cert, party.record.root_key)
    verify_certificate(cert, party.record.root_key, at=NOW)


def test_relay_injected_member_certificate_not_signed_by_party_root_is_rejected(party: Party) -> None:
    relay_root = SigningKey.generate()
    # 1. A certificate the relay issued with its own key, naming its own "party".
    forged = party.device("Mole", role="head", issuer=relay_root)
    with pytest.raises(TrustError, match="not the pinned one"):
        verify_certificate(forged.cert, party.record.root_key)
    # 2. The same, relabelled with the victim's party id: the signature is not the party root's.
    relabelled = replace(forged.cert, party_id=party.id)
    with pytest.raises(TrustError, match="not signed by the party root"):
        verify_certificate(relabelled, party.record.root_key)


def test_relay_swaps_member_encryption_key_is_detected(party: Party) -> None:
    device = party.device("Delegate")
    relay_key = EncryptionKey.generate()
    obj = {**device.cert.to_obj(), "encryption_key": relay_key.recipient}
    swapped = MemberCertificate.from_obj(obj)  # well-formed, so it parses...
    with pytest.raises(TrustError, match="not signed by the party root"):
        verify_certificate(swapped, party.record.root_key)  # ...but the root never signed it


def test_relay_swaps_member_signing_key_is_detected(party: Party) -> None:
    device = party.device("Delegate")
    swapped = replace(device.cert, signing_key=SigningKey.generate().public_b64)
    with pytest.raises(TrustError):
        verify_certificate(swapped, party.record.root_key)


def test_relay_promotes_delegate_to_head_is_detected(party: Party) -> None:
    device = party.device("Delegate", role="delegate")
    with pytest.raises(TrustError):
        verify_certificate(replace(device.cert, role="head"), party.record.root_key)


def test_certificate_validity_window(party: Party) -> None:
    device = party.device("Expert", role="expert", not_before=NOW, not_after=NOW + timedelta(days=1))
    root_key = party.record.root_key
    verify_certificate(device.cert, root_key, at=NOW)  # bounds are inclusive
    verify_certificate(device.cert, root_key, at=NOW + timedelta(days=1))
    with pytest.raises(TrustError, match="not valid at"):
        verify_certificate(device.cert, root_key, at=NOW - timedelta(seconds=1))
    with pytest.raises(TrustError, match="not valid at"):
        verify_certificate(device.cert, root_key, at=NOW + timedelta(days=1, seconds=1))


def test_certificate_issue_refuses_bad_input(party: Party) -> None:
    signing, encryption = SigningKey.generate(), EncryptionKey.generate()
    ok = dict(member="M", role="delegate", signing_key=signing.public_b64, encryption_key=encryption.recipient,
              not_before=NOW, not_after=NOW + timedelta(days=1))
    MemberCertificate.issue(party.root, **ok)
    for change in ({"role": "king"}, {"not_after": NOW}, {"signing_key": "AAAA"},
                   {"encryption_key": "age1nope"}, {"member": ""}):
        with pytest.raises(InputError):
            MemberCertificate.issue(party.root, **{**ok, **change})


@pytest.mark.parametrize(
    "change",
    [
        {"extra": 1},
        {"type": "parley.member-certificate.v0"},
        {"role": "king"},
        {"signing_key": "not base64"},
        {"encryption_key": "AGE-SECRET-KEY-1XYZ"},
        {"not_before": "2025-06-02 10:00:00"},
        {"not_after": "2024-01-01T00:00:00Z"},  # ends before it starts
        {"member": None},
        {"signature": ""},
    ],
)
def test_certificate_from_obj_is_strict(party: Party, change: dict) -> None:
    with pytest.raises(InputError):
        MemberCertificate.from_obj({**party.head.cert.to_obj(), **change})


def test_certificate_from_obj_missing_field(party: Party) -> None:
    obj = party.head.cert.to_obj()
    del obj["encryption_key"]
    with pytest.raises(InputError, match="missing fields"):
        MemberCertificate.from_obj(obj)


def test_revocation_issue_and_verify(party: Party) -> None:
    device = party.device("Delegate")
    revocation = Revocation.issue(party.root, device.id, NOW, "left")
    parsed = Revocation.from_obj(revocation.to_obj())
    assert parsed == revocation
    assert parsed.revoked_at == "2025-06-02T10:00:00Z"
    verify_revocation(parsed, party.record.root_key)


def test_revocation_by_another_root_is_rejected(party: Party) -> None:
    device = party.device("Delegate")
    other = SigningKey.generate()
    with pytest.raises(TrustError, match="not the pinned one"):
        verify_revocation(Revocation.issue(other, device.id, NOW), party.record.root_key)
    forged = replace(Revocation.issue(other, device.id, NOW), party_id=party.id)
    with pytest.raises(TrustError, match="not signed"):
        verify_revocation(forged, party.record.root_key)


def test_revocation_with_moved_time_is_rejected(party: Party) -> None:
    device = party.device("Delegate")
    revocation = Revocation.issue(party.root, device.id, NOW)
    moved = replace(revocation, revoked_at="2030-01-01T00:00:00Z")
    with pytest.raises(TrustError):
        verify_revocation(moved, party.record.root_key)


@pytest.mark.parametrize("change", [{"type": "x"}, {"revoked_at": "yesterday"}, {"reason": ""}, {"extra": 1}])
def test_revocation_from_obj_is_strict(party: Party, change: dict) -> None:
    revocation = Revocation.issue(party.root, party.head.id, NOW)
    with pytest.raises(InputError):
        Revocation.from_obj({**revocation.to_obj(), **change})
