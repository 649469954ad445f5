"""Witnessed checkpoints: every party's client cosigns what it verified (with its next act, or
``cosign``); finality needs the policy's parties. A read never posts.

Runs on SQLite and PostgreSQL (``any_db_world``).
"""

from __future__ import annotations

import base64
import json
from collections import Counter

import httpx
import pytest
from malicious_relay import use_transport

from parley.client.witness import cosign, owed_cosignature, require_witnessed, witness_status
from parley.errors import InputError, NotWitnessedError, RelayRefusal, TransportError
from parley.protocol.witness import witness_name
from parley.store.cosignatures import cosignatures
from parley.tlog.checkpoint import Checkpoint
from parley.tlog.cosignature import cosign as cosign_line


@pytest.fixture
def talks(any_db_world):
    ukraine, russia, swiss = (any_db_world.party(n) for n in ("Ukraine", "Russian Federation", "Switzerland"))
    nid = any_db_world.negotiation(ukraine, russia, swiss)
    return any_db_world, ukraine, russia, swiss, nid


class Counting(httpx.BaseTransport):
    """Counts a client's requests by method and route tail (``POST /events``, ``GET /cosignatures``...)."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.seen: Counter[str] = Counter()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.seen[f"{request.method} /{request.url.path.rstrip('/').rsplit('/', 1)[-1]}"] += 1
        return self.inner.handle_request(request)

    def posts(self) -> int:
        return sum(n for kind, n in self.seen.items() if kind.startswith("POST"))


def counted(world, client) -> Counting:  # noqa: ANN001
    counting = Counting(world.transport)
    use_transport(client, counting)
    return counting


def relay_cosigned(world, client, nid: str) -> set[int]:  # noqa: ANN001
    """The sizes the relay holds a cosignature of by this client's device."""
    return {row.size for row in cosignatures(world.relay.store, nid) if row.device_key_id == client.identity.device_key_id}


def test_every_party_cosigns_and_the_log_becomes_final(talks):
    world, ukraine, russia, swiss, nid = talks
    ukraine.send_message(nid, "Ukraine: opening statement.")
    for client in (ukraine, russia, swiss):
        assert cosign(client, nid) == ukraine.cache.checkpoint(nid)[0]
    status = require_witnessed(ukraine, nid, "all")
    assert status.final and status.final_size == status.size
    assert set(status.witnessed) == {c.profile.party.party_id for c in (ukraine, russia, swiss)}


def test_a_party_that_has_not_cosigned_keeps_the_log_from_being_final(talks):
    world, ukraine, russia, swiss, nid = talks
    proposal = ukraine.send_message(nid, "Ukraine: a new proposal.").size
    cosign(ukraine, nid)
    russia.send_message(nid, "Russia: received.")  # its act carries its cosignature of Ukraine's proposal
    swiss.sync(nid)  # a read: Switzerland saw it but posted nothing
    status = witness_status(ukraine, nid, "all")
    assert status.size == proposal + 1 and not status.final
    assert status.witnessed[russia.profile.party.party_id] == proposal  # Russia's own event: not by itself
    assert status.witnessed.get(swiss.profile.party.party_id, 0) < proposal
    with pytest.raises(NotWitnessedError, match="cosigned by 2 of 3 parties"):
        require_witnessed(ukraine, nid, "all", at_least=proposal)
    assert require_witnessed(ukraine, nid, 2, at_least=proposal).final_size == proposal  # a 2-of-3 policy
    cosign(swiss, nid)
    assert witness_status(ukraine, nid, "all").final_size == proposal
    cosign(russia, nid)
    cosign(ukraine, nid)
    assert require_witnessed(ukraine, nid, "all").final


def test_a_read_posts_nothing_even_when_it_verified_new_events(talks):
    """Reading never writes: a sync, the status view and the witness status that find new events post nothing
    (issue 23); what the read verified is owed, kept in the profile's cache."""
    from parley.client.workflow import Negotiation

    world, ukraine, russia, _, nid = talks
    ukraine.send_message(nid, "Ukraine: news for the readers.")
    counting = counted(world, russia)
    before = relay_cosigned(world, russia, nid)
    result = russia.sync(nid)
    Negotiation(russia, nid).sync(receipts=False)
    Negotiation(russia, nid).status()
    witness_status(russia, nid, "all")
    assert result.new_events >= 1
    assert counting.posts() == 0, counting.seen
    assert relay_cosigned(world, russia, nid) == before
    assert owed_cosignature(russia, nid)["size"] == russia.cache.checkpoint(nid)[0]


def test_the_owed_cosignature_reaches_the_relay_with_the_next_act_in_its_post(talks):
    """What a read verified is cosigned inside the next act's one post, even from another process."""
    from parley.client.sdk import Client

    world, ukraine, russia, _, nid = talks
    ukraine.send_message(nid, "Ukraine: news for the readers.")
    russia.sync(nid)
    read_size = russia.cache.checkpoint(nid)[0]
    assert read_size not in relay_cosigned(world, russia, nid)
    russia.close()  # the process ends: what is owed is in the profile's cache
    again = Client(russia.profile, transport=world.transport, clock=world.clock)
    world.clients.append(again)
    counting = counted(world, again)
    posted = again.send_message(nid, "Russia: received.")
    assert counting.seen == {"GET /events": 1, "POST /events": 1}
    assert read_size in relay_cosigned(world, russia, nid)
    assert posted.seq == read_size  # the cosignature covers everything before the act's own event
    assert owed_cosignature(again, nid)["size"] == posted.size  # its own event: owed to the next act
    assert cosign(again, nid, sync=False) == posted.size
    assert owed_cosignature(again, nid) is None and cosign(again, nid) is None  # nothing owed: nothing posted
    assert counting.seen["POST /cosignatures"] == 1


def test_a_relay_refusing_the_carried_cosignature_does_not_stop_the_act(talks, monkeypatch):
    """The act goes on without it (the event alone); the cosignature stays owed."""
    from parley.client import witness

    world, ukraine, russia, _, nid = talks
    ukraine.send_message(nid, "Ukraine: news.")
    russia.sync(nid)
    good = witness.owed_cosignature(russia, nid)
    monkeypatch.setattr(witness, "owed_cosignature", lambda _c, _n: {**good, "cosignature": _other_root_line(russia, nid)})
    counting = counted(world, russia)
    posted = russia.send_message(nid, "Russia: received.")
    assert russia.cache.last_seq(nid) == posted.seq
    assert counting.seen["POST /events"] == 2 and "not a cosignature" in str(russia.witness_error)
    assert good["size"] not in relay_cosigned(world, russia, nid)
    monkeypatch.undo()
    assert witness.owed_cosignature(russia, nid)["size"] == posted.size


def _other_root_line(client, nid: str, size: int | None = None, signer=None) -> str:  # noqa: ANN001
    size = size or client.cache.checkpoint(nid)[0]
    body = Checkpoint(client.origin(nid), size, b"\x07" * 32).to_text()
    return cosign_line(body, witness_name(client.identity.device_key_id), (signer or client).identity.signing.private, 1)


@pytest.mark.parametrize("quorum", [0, 4, "none", -1])
def test_a_witness_policy_outside_one_to_n_is_refused(talks, quorum):
    world, ukraine, _, _, nid = talks
    with pytest.raises(InputError):
        witness_status(ukraine, nid, quorum)


def _event_wire(client, nid: str) -> bytes:  # noqa: ANN001
    """The wire form of a message the client would post now (built and signed, captured, never sent)."""
    captured: dict[str, bytes] = {}

    def capture(_path, _body=None, *, raw=None, key=None):  # noqa: ANN001, ANN202
        captured["raw"] = raw
        raise TransportError("captured before it left")

    client.conn.post, client.witness = capture, False
    try:
        with pytest.raises(TransportError):
            client.send_message(nid, "a carrier for the cosignature")
    finally:
        del client.conn.post, client.witness
    return captured["raw"]


#: a cosignature reaches the relay on its own route or inside an event post: the same checks refuse it both ways
WAYS = ["route", "event post"]


def _file(world, client, nid: str, payload: dict, way: str) -> None:  # noqa: ANN001
    """File ``payload`` (``{size, cosignature}``) the given way; a refused event post appends nothing."""
    if way == "route":
        client.conn.post(f"/v1/negotiations/{nid}/cosignatures", payload)
        return
    raw = _event_wire(client, nid)
    size = world.relay.store.head(nid).size
    kept = len(cosignatures(world.relay.store, nid))
    try:
        client.conn.post(f"/v1/negotiations/{nid}/events",
                         raw=raw[:-1] + b',"cosignature":' + json.dumps(payload).encode() + b"}")
    except Exception:
        assert world.relay.store.head(nid).size == size, "the event of a refused post was appended"
        assert len(cosignatures(world.relay.store, nid)) == kept
        raise


@pytest.mark.parametrize("way", WAYS)
def test_relay_refuses_a_cosignature_over_another_root(talks, way):
    world, ukraine, _, _, nid = talks
    line = _other_root_line(ukraine, nid)
    with pytest.raises(RelayRefusal, match="not a cosignature of this relay's checkpoint"):
        _file(world, ukraine, nid, {"size": ukraine.cache.checkpoint(nid)[0], "cosignature": line}, way)


@pytest.mark.parametrize("way", WAYS)
def test_relay_refuses_a_cosignature_posted_by_another_device(talks, way):
    """A member cannot file a cosignature in another party's name: it must verify under the caller's key."""
    world, ukraine, russia, _, nid = talks
    size, root, _ = ukraine.cache.checkpoint(nid)
    body = Checkpoint(ukraine.origin(nid), size, root).to_text()
    line = cosign_line(body, witness_name(ukraine.identity.device_key_id), russia.identity.signing.private, 1)
    with pytest.raises(RelayRefusal):
        _file(world, russia, nid, {"size": size, "cosignature": line}, way)
    assert ukraine.identity.device_key_id not in {row.device_key_id for row in cosignatures(world.relay.store, nid)
                                                  if row.line.strip() == line}


@pytest.mark.parametrize("way", WAYS)
def test_relay_refuses_a_cosignature_of_a_size_beyond_its_log(talks, way):
    """A device cannot cosign a checkpoint the relay never signed (a size its log does not have yet)."""
    world, ukraine, _, _, nid = talks
    size = ukraine.cache.checkpoint(nid)[0] + 5
    with pytest.raises(InputError, match="no checkpoint of size"):
        _file(world, ukraine, nid, {"size": size, "cosignature": _other_root_line(ukraine, nid, size)}, way)


@pytest.mark.parametrize("way", WAYS)
def test_relay_refuses_a_cosignature_dated_in_the_future(talks, way):
    """A cosignature dated ahead would outrank (newest per device and size) the honest ones to come."""
    world, ukraine, _, _, nid = talks
    size, root, _ = ukraine.cache.checkpoint(nid)
    body = Checkpoint(ukraine.origin(nid), size, root).to_text()
    ahead = int(world.clock().timestamp()) + 86_400
    line = cosign_line(body, witness_name(ukraine.identity.device_key_id), ukraine.identity.signing.private, ahead)
    with pytest.raises(InputError, match="in the future"):
        _file(world, ukraine, nid, {"size": size, "cosignature": line}, way)


@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("payload", [{"size": 0, "cosignature": "x"}, {"size": 10**6, "cosignature": "x"},
                                     {"size": 1}, {"size": "1", "cosignature": "x"},
                                     {"size": 1, "cosignature": "x" * 1000}])
def test_relay_refuses_malformed_cosignature_posts(talks, payload, way):
    world, ukraine, _, _, nid = talks
    with pytest.raises(InputError):
        _file(world, ukraine, nid, payload, way)


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
