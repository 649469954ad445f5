"""Working while the relay is away: reads from the verified local copy, marked "as of" its last checkpoint;
acts into an outbox, posted in order when the relay is back, refused ones reported, none lost, none twice."""

from __future__ import annotations

import contextlib

import httpx
import pytest
from malicious_relay import use_transport

from parley.client import offline
from parley.client.workflow import Negotiation
from parley.errors import NotFoundError, TransportError
from parley.protocol.state import PARTY_LEAVE


class Switch(httpx.BaseTransport):
    """The relay behind a cable that can be pulled: ``down`` refuses to connect; ``lose_answer`` delivers the
    next event post to the relay and loses its answer (the client cannot tell whether it arrived)."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.down = False
        self.lose_answer = False
        self.posts = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        is_event_post = request.method == "POST" and request.url.path.endswith("/events")
        response = self.inner.handle_request(request)
        if is_event_post:
            self.posts += 1
            if self.lose_answer:
                self.lose_answer = False
                self.down = True  # the line drops right after the post
                raise httpx.ReadError("connection reset", request=request)
        return response

    def close(self) -> None:
        pass


def test_relay_stopped_and_restarted_mid_session_with_acts_in_the_outbox(trio, world) -> None:  # noqa: ANN001
    ukraine = trio.ukraine
    cable = Switch(world.transport)
    use_transport(ukraine, cable)
    ukraine.offline_ok = True
    ua = Negotiation(ukraine, trio.nid)
    ukraine.send_message(trio.nid, "before the outage")
    size_before = ukraine.cache.checkpoint(trio.nid)[0]

    cable.down = True
    # Reads work from the verified local copy, marked as of its last checkpoint.
    ua.sync()
    assert ukraine.offline[trio.nid]["size"] == size_before and ukraine.offline[trio.nid]["verified_at"]
    assert ua.status()["log_size"] == size_before
    assert [m["content"]["text"] for m in ukraine.messages(trio.nid)] == ["before the outage"]
    assert [n["negotiation_id"] for n in ukraine.negotiations()] == [trio.nid]
    # Acts go to the outbox, in order, shown as pending.
    first = ukraine.send_message(trio.nid, "written on the plane, 1")
    assert first.seq == -1 and first.event_id.startswith("pending:")
    ukraine.send_message(trio.nid, "written on the plane, 2")
    swiss_id = trio.swiss.profile.party.party_id
    ukraine.send_message(trio.nid, "for Switzerland only", parties=[swiss_id])
    ukraine.send_message(trio.nid, "written on the plane, 3")
    assert [i["state"] for i in offline.items(ukraine)] == ["pending"] * 4
    # Meanwhile Switzerland leaves: the act addressed to it alone can no longer be posted.
    with contextlib.suppress(NotFoundError):  # posted; a party that left cannot read the log on
        trio.swiss._post_public(trio.nid, PARTY_LEAVE, {})

    cable.down = False  # the relay is back
    settled = offline.flush(ukraine)
    assert [s["state"] for s in settled] == ["posted", "posted", "refused", "posted"]
    assert "not in this negotiation" in settled[2]["message"]
    assert trio.nid not in ukraine.offline
    trio.russia.sync(trio.nid)
    assert [m["content"]["text"] for m in trio.russia.messages(trio.nid)] == [
        "before the outage", "written on the plane, 1", "written on the plane, 2", "written on the plane, 3"]
    assert offline.pending_count(ukraine) == 0
    assert offline.flush(ukraine) == []  # nothing posted twice


def test_act_whose_answer_was_lost_is_not_posted_twice(trio, world) -> None:  # noqa: ANN001
    ukraine = trio.ukraine
    cable = Switch(world.transport)
    use_transport(ukraine, cable)
    ukraine.offline_ok = True
    cable.lose_answer = True
    pending = ukraine.send_message(trio.nid, "did it arrive?")
    assert pending.seq == -1 and cable.posts == 1
    ukraine.send_message(trio.nid, "and after it")  # queued behind it, in order
    cable.down = False
    settled = offline.flush(ukraine)
    assert [s["state"] for s in settled] == ["posted", "posted"]
    assert cable.posts == 2  # the first was found in the log by its event id, not posted again
    trio.russia.sync(trio.nid)
    assert [m["content"]["text"] for m in trio.russia.messages(trio.nid)] == ["did it arrive?", "and after it"]


def test_a_later_act_flushes_the_outbox_first(trio, world) -> None:  # noqa: ANN001
    ukraine = trio.ukraine
    cable = Switch(world.transport)
    use_transport(ukraine, cable)
    ukraine.offline_ok = True
    cable.down = True
    ukraine.send_message(trio.nid, "one")
    cable.down = False
    posted = ukraine.send_message(trio.nid, "two")
    assert posted.seq >= 0
    trio.russia.sync(trio.nid)
    assert [m["content"]["text"] for m in trio.russia.messages(trio.nid)] == ["one", "two"]


def test_without_offline_mode_the_sdk_still_raises(trio, world) -> None:  # noqa: ANN001
    cable = Switch(world.transport)
    use_transport(trio.ukraine, cable)
    cable.down = True
    with pytest.raises(TransportError):
        trio.ukraine.sync(trio.nid)
    with pytest.raises(TransportError):
        trio.ukraine.send_message(trio.nid, "not queued")
