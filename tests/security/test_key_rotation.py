"""Removal and device key rotation: a removed device reads nothing posted later; history stays readable."""

from __future__ import annotations

import pytest

from parley.client.sdk import verify_log
from parley.crypto.seal import open_sealed
from parley.errors import AuthError, RelayRefusal, VerificationError


def _blobs(world, nid: str, seq: int):  # noqa: ANN001, ANN202
    (row,) = world.store.events(nid, seq - 1, 1, reader=None)
    import json

    header = json.loads(row.header)
    return header, [row.ciphertexts[i] for i in sorted(row.ciphertexts)]


def test_removed_member_cannot_decrypt_events_posted_after_removal(talks):
    world, ukraine, russia, _turkiye, nid = talks
    delegate = world.member(ukraine, "Delegate", "delegate")
    delegate.sync(nid)
    before = russia.send_message(nid, "before the removal")
    delegate.sync(nid)
    assert delegate.messages(nid)[-1]["content"]["text"] == "before the removal"
    gone = delegate.identity.device_key_id

    ukraine.remove_member(gone)
    after = [russia.send_message(nid, "after the removal"),
             ukraine.post(nid, "message", {"text": "traced copies"}, copies=lambda cert: {"text": cert.member}),
             ukraine.send_message(nid, "from the removing party itself")]
    for posted in after:
        header, blobs = _blobs(world, nid, posted.seq)
        recipients = {r for ref in header["ciphertexts"] for r in ref["recipients"]}
        assert gone not in recipients and recipients  # not encrypted to the removed device...
        for blob in blobs:  # ...and its age identity opens none of the ciphertexts, even given them all
            with pytest.raises(VerificationError, match="not addressed to this key"):
                open_sealed(blob, delegate.identity.encryption)
    # The relay refuses it the log too, and what it could read before stays what it was.
    with pytest.raises(AuthError):
        delegate.sync(nid)
    header, blobs = _blobs(world, nid, before.seq)
    assert open_sealed(blobs[0], delegate.identity.encryption)


def test_device_key_rotation_keeps_history_readable_for_the_remaining_members(talks):
    world, ukraine, russia, _turkiye, nid = talks
    old_device = world.member(ukraine, "Adviser", "expert")
    old_device.sync(nid)
    history = [russia.send_message(nid, f"history {i}").seq for i in range(3)]
    old_device.send_message(nid, "written with the old device key")

    # Rotation: a new device certificate for the same member (member.add), then the old device revoked.
    new_device = world.member(ukraine, "Adviser", "expert")
    ukraine.remove_member(old_device.identity.device_key_id)
    fresh = russia.send_message(nid, "after the rotation")

    # The remaining members still read (and verify) the whole history, including the old device's events.
    for client in (ukraine, russia):
        assert verify_log(client, nid)["result"] == "verified"
        texts = [m["content"]["text"] for m in client.messages(nid)]
        assert texts[-5:] == ["history 0", "history 1", "history 2", "written with the old device key",
                              "after the rotation"]
    # The new device reads what is posted after it was added...
    new_device.sync(nid)
    readable = {e["seq"]: e["readable"] for e in new_device.timeline(nid)}
    assert readable[fresh.seq]
    assert [m["content"]["text"] for m in new_device.messages(nid)][-1] == "after the rotation"
    # ...but not what was encrypted to other keys before it existed (forward only: see docs/security.md).
    assert not any(readable[s] for s in history)
    # And the old device key opens nothing new.
    _header, blobs = _blobs(world, nid, fresh.seq)
    with pytest.raises(VerificationError):
        open_sealed(blobs[0], old_device.identity.encryption)


def test_party_root_rotation_signed_by_the_old_root_is_accepted_by_the_other_parties(talks):
    from parley.crypto.fingerprint import fingerprint_digits

    world, ukraine, russia, turkiye, nid = talks
    old_root = ukraine.identity.root.public_b64
    rotation = ukraine.rotate_root()
    assert rotation.old_root_key == old_root and ukraine.identity.root.public_b64 == rotation.new_root_key
    # Russia's client follows the rotation: it was signed by the root Russia had verified.
    russia.sync(nid)
    pinned = russia.profile.trust[ukraine.profile.party.party_id]
    assert pinned.root_key == rotation.new_root_key and pinned.chain == [old_root, rotation.new_root_key]
    assert pinned.verified
    assert russia.state(nid).parties[ukraine.profile.party.party_id].root_key == rotation.new_root_key
    # New members chain to the new root and are accepted by the others.
    adviser = world.member(ukraine, "Adviser (after rotation)", "expert")
    for other in (ukraine, russia):
        adviser.profile.pin(other.profile.party, verified=True, chain=other.profile.trust[other.profile.party.party_id].chain)
    adviser.send_message(nid, "certified by the new root")
    russia.sync(nid)
    assert russia.messages(nid)[-1]["content"]["text"] == "certified by the new root"
    # A party that fetches Ukraine from the directory sees the chain and the new fingerprint.
    turkiye.trust_party(ukraine.profile.party.party_id, fingerprint_digits(rotation.new_root_key))
    assert turkiye.profile.trust[ukraine.profile.party.party_id].chain == [old_root, rotation.new_root_key]
    assert verify_log(russia, nid)["result"] == "verified"


def test_root_rotation_not_signed_by_the_pinned_root_is_rejected(talks):
    from parley.crypto.keys import SigningKey
    from parley.protocol.identity import RootRotation
    from parley.protocol.state import PARTY_ROTATE_ROOT

    world, ukraine, russia, _turkiye, nid = talks
    impostor_old, impostor_new = SigningKey.generate(), SigningKey.generate()
    forged = RootRotation.issue(ukraine.profile.party.party_id, impostor_old, impostor_new, world.clock())
    with pytest.raises(RelayRefusal, match="current root"):
        ukraine.conn.post(f"/v1/parties/{ukraine.profile.party.party_id}/rotations", {"rotation": forged.to_obj()})
    with pytest.raises(RelayRefusal, match="current root"):
        ukraine._post_public(nid, PARTY_ROTATE_ROOT, {"rotation": forged.to_obj()}, authority="head")
    # Signed by the old root but not by the new key's holder: refused too.
    half = RootRotation.issue(ukraine.profile.party.party_id, ukraine.identity.root, impostor_new, world.clock())
    half = RootRotation(**{**half.__dict__, "new_signature": forged.new_signature})
    with pytest.raises(RelayRefusal, match="both"):
        ukraine._post_public(nid, PARTY_ROTATE_ROOT, {"rotation": half.to_obj()}, authority="head")
    russia.sync(nid)
    assert russia.profile.trust[ukraine.profile.party.party_id].chain == [ukraine.identity.root.public_b64]


def test_old_root_can_no_longer_certify_after_rotation(talks):
    from datetime import timedelta

    from parley.crypto.keys import EncryptionKey, SigningKey
    from parley.errors import RelayRefusal
    from parley.protocol.identity import MemberCertificate
    from parley.protocol.state import MEMBER_ADD

    world, ukraine, russia, _turkiye, nid = talks
    old_root = ukraine.identity.root
    ukraine.rotate_root()
    now = world.clock()
    stale = MemberCertificate.issue(old_root, member="Smuggled", role="head", signing_key=SigningKey.generate().public_b64,
                                    encryption_key=EncryptionKey.generate().recipient,
                                    not_before=now - timedelta(minutes=1), not_after=now + timedelta(days=1))
    with pytest.raises(RelayRefusal):
        ukraine._post_public(nid, MEMBER_ADD, {"certificate": stale.to_obj()})
    with pytest.raises(RelayRefusal):
        ukraine.conn.post(f"/v1/parties/{ukraine.profile.party.party_id}/devices", {"certificate": stale.to_obj()})
