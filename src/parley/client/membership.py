"""Carry the party's directory into every negotiation: what an interrupted act left undone.

Adding or removing a member, or rotating the party root, is recorded at the relay's directory first, then
posted to each negotiation the party has joined, one event each. A crash, a lost connection or a refused
post part way leaves some negotiations behind: a removed (perhaps stolen) device still a member there, a
new member unknown. ``carry_membership`` compares each negotiation with the directory, as verified against
the pinned root chain, and posts what is missing. Running it again posts nothing: it is the recovery.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from parley.errors import ForbiddenError, TrustError
from parley.protocol.identity import (
    MemberCertificate,
    Revocation,
    RootRotation,
    verify_certificate,
    verify_device_revocation,
    verify_revocation,
)
from parley.protocol.state import MEMBER_ADD, MEMBER_REMOVE, PARTY_ROTATE_ROOT

if TYPE_CHECKING:
    from parley.client.sdk import Client


@dataclass(frozen=True)
class Carried:
    """One event posted to bring a negotiation up to the party's directory."""

    negotiation_id: str
    kind: str  # MEMBER_ADD, MEMBER_REMOVE or PARTY_ROTATE_ROOT
    subject: str  # the device key id added or removed, or the new root key


def directory_revocations(client: Client, party_id: str, chain: list[str]) -> list[Revocation]:
    """The party's revocations the relay's directory holds, each checked against a root of ``chain``.

    Raises:
        TrustError: the relay serves a revocation no root of the party signed.
    """
    answer = client.conn.get(f"/v1/parties/{party_id}")
    certificates = {}
    for device in answer["devices"]:
        cert = MemberCertificate.from_obj(device["certificate"])
        certificates[cert.device_key_id] = cert
    revocations = []
    for device in answer["devices"]:
        if device.get("revocation") is None:
            continue
        revocation = Revocation.from_obj(device["revocation"])
        if revocation.by is not None:
            # One device of a person removing another: signed by that device, whose certificate must chain
            # to the party root.
            revoker, target = certificates.get(revocation.by), certificates.get(revocation.device_key_id)
            if revoker is None or target is None or not any(_signed_by(revoker, root) for root in chain):
                raise TrustError("the relay serves a device's revocation by a device the party did not certify")
            verify_device_revocation(revocation, revoker, target)
            revocations.append(revocation)
            continue
        for root in reversed(chain):
            try:
                verify_revocation(revocation, root, party_id=party_id)
                break
            except TrustError:
                continue
        else:
            raise TrustError("the relay serves a revocation the party root did not sign")
        revocations.append(revocation)
    return revocations


def _signed_by(cert: MemberCertificate, root_key: str) -> bool:
    try:
        verify_certificate(cert, root_key, party_id=cert.party_id)
    except TrustError:
        return False
    return True


def carry_membership(client: Client) -> list[Carried]:
    """Post to each negotiation this party has joined the rotations, new members and removals of the
    party's directory that the negotiation lacks; returns what was posted (nothing when all agree).

    Rotations go first (members certified under the new root need it), removals before additions.

    Raises:
        ForbiddenError: a rotation is missing and this device is not a head of delegation.
        TrustError: the relay's directory does not verify against the pinned root chain.
        RelayError and the posting errors of ``Client.post``.
    """
    party_id = client.profile.party.party_id
    _, chain, rotations, certificates = client.fetch_party_chain(party_id)
    revocations = directory_revocations(client, party_id, chain)
    carried: list[Carried] = []
    for negotiation_id in client.cache.negotiations():
        state = client.sync_state(negotiation_id)
        party = state.parties.get(party_id)
        if party is None or party.status != "joined":
            continue
        missing_rotations = rotations[len(party.root_chain) - 1:]
        if missing_rotations and client.profile.role != "head":
            raise ForbiddenError("a root rotation is missing in a negotiation; only a head of delegation may post it",
                                 hint="ask a head of your delegation to run 'parley party sync-members'")
        for rotation in missing_rotations:
            client._post_public(negotiation_id, PARTY_ROTATE_ROOT, {"rotation": rotation}, authority="head")
            carried.append(Carried(negotiation_id, PARTY_ROTATE_ROOT, RootRotation.from_obj(rotation).new_root_key))
        for revocation in revocations:
            device = revocation.device_key_id
            if device in state.members and device not in state.revoked and device != client.identity.device_key_id:
                client._post_public(negotiation_id, MEMBER_REMOVE, {"revocation": revocation.to_obj()})
                carried.append(Carried(negotiation_id, MEMBER_REMOVE, device))
        current_root = chain[-1]
        for cert in certificates:
            # A member certified under a root the negotiation has since retired cannot be added by its old
            # certificate (the fold checks the current root); the party issues it a new one.
            if cert.device_key_id not in state.members and _signed_by(cert, current_root):
                client._post_public(negotiation_id, MEMBER_ADD, {"certificate": cert.to_obj()})
                carried.append(Carried(negotiation_id, MEMBER_ADD, cert.device_key_id))
    return carried


__all__ = ["Carried", "carry_membership", "directory_revocations"]
