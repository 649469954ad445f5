"""Witnessed checkpoints: every party's client cosigns what it verified; finality needs the policy's parties.

Runs on SQLite and PostgreSQL (``any_db_world``).
"""

from __future__ import annotations

import base64

import pytest

from parley.client.witness import require_witnessed, witness_status
from parley.errors import InputError, NotWitnessedError, RelayRefusal
from parley.protocol.witness import witness_name
from parley.tlog.checkpoint import Checkpoint
from parley.tlog.cosignature import cosign


@pytest.fixture
def talks(any_db_world):
    ukraine, russia, swiss = (any_db_world.party(n) for n in ("Ukraine", "Russian Federation", "Switzerland"))
    nid = any_db_world.negotiation(ukraine, russia, swiss)
    return any_db_world, ukraine, russia, swiss, nid


def test_every_party_cosigns_and_the_log_becomes_final(talks):
    world, ukraine, russia, swiss, nid = talks
    ukraine.send_message(nid, "Ukraine: opening statement.")
    for client in (russia, swiss):
        client.sync(nid)
    status = require_witnessed(ukraine, nid, "all")
    assert status.final and status.final_size == status.size
    assert set(status.witnessed) == {c.profile.party.party_id for c in (ukraine, russia, swiss)}


def test_a_party_that_has_not_synced_keeps_the_log_from_being_final(talks):
    world, ukraine, russia, swiss, nid = talks
    ukraine.send_message(nid, "Ukraine: a new proposal.")
    russia.sync(nid)  # Switzerland has not seen it yet
    status = witness_status(ukraine, nid, "all")
    assert not status.final and status.missing == [swiss.profile.party.party_id]
    assert status.final_size < status.size
    with pytest.raises(NotWitnessedError, match="cosigned by 2 of 3 parties"):
        require_witnessed(ukraine, nid, "all")
    assert require_witnessed(ukraine, nid, 2).final  # two of three is enough for a 2-of-3 policy
    swiss.sync(nid)
    assert require_witnessed(ukraine, nid, "all").final


@pytest.mark.parametrize("quorum", [0, 4, "none", -1])
def test_a_witness_policy_outside_one_to_n_is_refused(talks, quorum):
    world, ukraine, _, _, nid = talks
    with pytest.raises(InputError):
        witness_status(ukraine, nid, quorum)


def test_relay_refuses_a_cosignature_over_another_root(talks):
    world, ukraine, _, _, nid = talks
    size = ukraine.cache.checkpoint(nid)[0]
    body = Checkpoint(ukraine.origin(nid), size, b"\x07" * 32).to_text()
    line = cosign(body, witness_name(ukraine.identity.device_key_id), ukraine.identity.signing.private, 1)
    with pytest.raises(RelayRefusal, match="not a cosignature of this relay's checkpoint"):
        ukraine.conn.post(f"/v1/negotiations/{nid}/cosignatures", {"size": size, "cosignature": line})


def test_relay_refuses_a_cosignature_posted_by_another_device(talks):
    """A member cannot file a cosignature in another party's name: it must verify under the caller's key."""
    world, ukraine, russia, _, nid = talks
    size = ukraine.cache.checkpoint(nid)[0]
    body = Checkpoint(ukraine.origin(nid), size, ukraine.cache.checkpoint(nid)[1]).to_text()
    line = cosign(body, witness_name(ukraine.identity.device_key_id), russia.identity.signing.private, 1)
    with pytest.raises(RelayRefusal):
        russia.conn.post(f"/v1/negotiations/{nid}/cosignatures", {"size": size, "cosignature": line})


@pytest.mark.parametrize("payload", [{"size": 0, "cosignature": "x"}, {"size": 10**6, "cosignature": "x"},
                                     {"size": 1}, {"size": "1", "cosignature": "x"},
                                     {"size": 1, "cosignature": "x" * 1000}])
def test_relay_refuses_malformed_cosignature_posts(talks, payload):
    world, ukraine, _, _, nid = talks
    with pytest.raises(InputError):
        ukraine.conn.post(f"/v1/negotiations/{nid}/cosignatures", payload)


def test_an_outsider_cannot_read_or_post_cosignatures(talks):
    world, ukraine, _, _, nid = talks
    outsider = world.party("Elsewhere")
    from parley.errors import NotFoundError

    with pytest.raises(NotFoundError):
        outsider.conn.get(f"/v1/negotiations/{nid}/cosignatures")
    with pytest.raises(NotFoundError):
        outsider.conn.post(f"/v1/negotiations/{nid}/cosignatures", {"size": 1, "cosignature": "x"})


def test_served_cosignatures_are_c2sp_lines_that_go_tools_can_append_to_the_checkpoint(talks):
    world, ukraine, russia, swiss, nid = talks
    served = ukraine.conn.get(f"/v1/negotiations/{nid}/cosignatures")["cosignatures"]
    assert served and all(item["cosignature"].startswith("\u2014 parley-witness/") for item in served)
    payload = base64.b64decode(served[0]["cosignature"].split(" ")[2])
    assert len(payload) == 4 + 8 + 64
