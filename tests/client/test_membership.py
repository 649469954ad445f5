"""Membership acts that stop part way are finished, from the verified directory, by ``carry_membership``."""

from __future__ import annotations

import httpx
import pytest
from malicious_relay import use_transport

from parley.client.membership import Carried, carry_membership
from parley.crypto.keys import SigningKey
from parley.errors import ParleyError, TrustError
from parley.protocol.identity import Revocation
from parley.protocol.state import MEMBER_ADD, MEMBER_REMOVE


class ConnectionLostOnPost(httpx.BaseTransport):
    """The honest relay, except that the connection drops when an event is posted to one negotiation."""

    def __init__(self, inner: httpx.BaseTransport, negotiation_id: str) -> None:
        self.inner, self.path = inner, f"/v1/negotiations/{negotiation_id}/events"

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path == self.path:
            raise httpx.ConnectError("connection reset by peer", request=request)
        return self.inner.handle_request(request)


@pytest.fixture
def two_talks(world):  # noqa: ANN001, ANN201
    ukraine, russia = world.party("Ukraine"), world.party("Russian Federation")
    talks = [world.negotiation(ukraine, russia), world.negotiation(ukraine, russia)]
    delegate = world.member(ukraine, "Delegate")  # carried into both negotiations by add_member
    return world, ukraine, russia, talks, delegate


def test_new_member_is_carried_into_every_joined_negotiation(two_talks) -> None:  # noqa: ANN001
    _world, _ukraine, russia, talks, delegate = two_talks
    for nid in talks:
        assert delegate.identity.device_key_id in russia.sync_state(nid).members


def test_removal_cut_off_by_a_lost_connection_is_finished_by_carry_membership(two_talks) -> None:  # noqa: ANN001
    # The danger: a stolen laptop's device revoked at the directory and in one negotiation, still a member in
    # the other, where every client would go on accepting (and encrypting to) it.
    world, ukraine, russia, _talks, delegate = two_talks
    order = list(ukraine.cache.negotiations())
    done, cut = order[0], order[-1]
    gone = delegate.identity.device_key_id
    use_transport(ukraine, ConnectionLostOnPost(world.transport, cut))
    with pytest.raises(ParleyError, match="cannot reach the relay"):
        ukraine.remove_member(gone)
    assert gone in russia.sync_state(done).revoked
    assert gone not in russia.sync_state(cut).revoked

    use_transport(ukraine, world.transport)
    assert carry_membership(ukraine) == [Carried(cut, MEMBER_REMOVE, gone)]
    assert gone in russia.sync_state(cut).revoked
    assert carry_membership(ukraine) == []  # nothing twice


def test_added_member_cut_off_by_a_lost_connection_is_finished_by_carry_membership(two_talks, tmp_path) -> None:  # noqa: ANN001
    world, ukraine, russia, _talks, _delegate = two_talks
    cut = list(ukraine.cache.negotiations())[-1]
    use_transport(ukraine, ConnectionLostOnPost(world.transport, cut))
    with pytest.raises(ParleyError):
        ukraine.add_member(tmp_path / "adviser", member="Adviser", role="expert", passphrase=None)
    use_transport(ukraine, world.transport)
    (carried,) = carry_membership(ukraine)
    assert (carried.negotiation_id, carried.kind) == (cut, MEMBER_ADD)
    assert carried.subject in russia.sync_state(cut).members


def test_relay_forged_revocation_in_the_directory_is_refused(two_talks, compromise) -> None:  # noqa: ANN001
    # A relay that invents a revocation would have a party throw its own member out of every negotiation.
    world, ukraine, russia, talks, delegate = two_talks
    forged = Revocation.issue(SigningKey.generate(), delegate.identity.device_key_id, world.clock(), "forged",
                              party_id=ukraine.profile.party.party_id)
    evil = compromise(ukraine)

    def add_forged_revocation(answer):  # noqa: ANN001, ANN202
        for device in answer["devices"]:
            if device["certificate"]["signing_key"] == delegate.identity.signing.public_b64:
                device["revocation"] = forged.to_obj()
        return answer

    evil.party = add_forged_revocation
    with pytest.raises(TrustError, match="did not sign"):
        carry_membership(ukraine)
    assert all(delegate.identity.device_key_id not in russia.sync_state(nid).revoked for nid in talks)
