"""Audiences hidden from outsiders: a party outside an event's audience receives only its hidden entry.

The hidden entry (``{"seq", "hidden": {"event", "nonce", "tags"}}``) is the event's whole Merkle leaf: the
outsider verifies the log with it, and learns neither the author, nor the audience, nor the kind of act. Its
audience tags tell the outsider's device that the event was not addressed to it, so a relay that serves an
addressed event as hidden (withholding it) is caught.
"""

from __future__ import annotations

import json

import pytest
from malicious_relay import MaliciousRelay, event_id_of
from test_malicious_relay import refused

from parley.client.sdk import verify_log
from parley.errors import ForkError, ProtocolError


@pytest.fixture
def quartet(world):  # noqa: ANN001, ANN201
    ukraine = world.party("Ukraine")
    russia = world.party("Russian Federation")
    usa = world.party("United States")
    turkiye = world.party("Türkiye")
    nid = world.negotiation(turkiye, ukraine, russia, usa)
    return world, nid, ukraine, russia, usa, turkiye


def _listing(client, nid: str) -> list[dict]:  # noqa: ANN001
    return client.conn.get(f"/v1/negotiations/{nid}/events", after=-1)["events"]


def test_party_outside_a_channel_cannot_tell_who_talks_to_whom(quartet) -> None:  # noqa: ANN001
    world, nid, ukraine, russia, usa, turkiye = quartet
    us_id, ru_id = usa.profile.party.party_id, russia.profile.party.party_id
    channel = usa.send_message(nid, "Presidents may speak at any time.", parties=[ru_id, us_id])
    broadcast = turkiye.send_message(nid, "The next round opens on Monday.")
    for client in (ukraine, russia, usa):
        client.sync(nid)

    outsider = {item["seq"]: item for item in _listing(ukraine, nid)}
    hidden = outsider[channel.seq]
    assert set(hidden) == {"seq", "hidden"} and set(hidden["hidden"]) == {"event", "nonce", "tags"}
    assert hidden["hidden"]["event"] == channel.event_id
    served = json.dumps(hidden)
    for secret in (us_id, ru_id, usa.identity.device_key_id, "message", "received_at"):
        assert secret not in served, f"the outsider's entry names {secret}"
    # The tag count is padded to every device of the negotiation: a two-party channel and a message to all
    # look alike.
    assert len(hidden["hidden"]["tags"]) == len(outsider[broadcast.seq]["event"]["header"]["tags"])
    # A member of the channel receives the event whole.
    assert "event" in {i["seq"]: i for i in _listing(russia, nid)}[channel.seq]

    # Ukraine's local copy holds no trace of who or what either, and its timeline does not show the event.
    stored = {seq: env for seq, env, _, _ in ukraine.cache.events(nid)}
    assert stored[channel.seq] == {"hidden": hidden["hidden"]}
    assert channel.seq not in [e["seq"] for e in ukraine.timeline(nid)]
    # ... and still verifies the whole log, from scratch, against the relay's.
    assert verify_log(ukraine, nid)["size"] == ukraine.sync(nid).size


def test_outsider_acts_after_a_hidden_event_and_every_member_accepts_it(quartet) -> None:  # noqa: ANN001
    world, nid, ukraine, russia, usa, turkiye = quartet
    ru_id, us_id = russia.profile.party.party_id, usa.profile.party.party_id
    hidden = usa.send_message(nid, "Back channel.", parties=[ru_id, us_id])
    posted = ukraine.send_message(nid, "Ukraine's statement.")  # its prev is the hidden event
    assert ukraine.state(nid).head == posted.event_id
    for client in (russia, usa, turkiye):
        assert client.sync(nid).size == posted.seq + 1
    assert ukraine.state(nid).event_index[hidden.event_id] == hidden.seq


def _back_channel_watched_by(quartet, compromise, watcher_name: str):  # noqa: ANN001, ANN202
    """The watcher (caught up, then behind a compromised relay) and a United States-Russia message after it."""
    world, nid, ukraine, russia, usa, turkiye = quartet
    watcher = {"ukraine": ukraine, "russia": russia}[watcher_name]
    watcher.sync(nid)
    evil: MaliciousRelay = compromise(watcher)
    channel = usa.send_message(nid, "Presidents may speak at any time.",
                               parties=[russia.profile.party.party_id, usa.profile.party.party_id])
    return nid, watcher, evil, channel


def test_relay_passing_an_addressed_event_off_as_hidden_is_caught(quartet, compromise) -> None:  # noqa: ANN001
    """The hidden entry is the event's own leaf: the relay needs to forge nothing to serve it to a reader in
    place of the event. The reader's tag in it gives it away."""
    nid, russia, evil, channel = _back_channel_watched_by(quartet, compromise, "russia")

    def hide(items: list[dict]) -> list[dict]:
        out = []
        for item in items:
            if event_id_of(item) == channel.event_id:
                header = item["event"]["header"]
                item = {"seq": item["seq"], "hidden": {"event": channel.event_id, "nonce": header["nonce"],
                                                        "tags": header["tags"]}}
            out.append(item)
        return out

    evil.events = hide
    refused(russia, nid, evil, ProtocolError, "withheld an event addressed to this device")
    evil.events = None
    assert russia.sync(nid).size == channel.seq + 1


def test_relay_rewriting_a_hidden_entry_is_caught(quartet, compromise) -> None:  # noqa: ANN001
    """Tags or nonce changed (to hide a withheld event from its reader's check): the leaf changes, and with
    it the root the outsider recomputes."""
    nid, ukraine, evil, channel = _back_channel_watched_by(quartet, compromise, "ukraine")

    def rewrite(items: list[dict]) -> list[dict]:
        for item in items:
            if "hidden" in item and item["hidden"]["event"] == channel.event_id:
                item["hidden"]["tags"] = sorted(item["hidden"]["tags"][1:] + ["A" * 22 + "=="])
        return items

    evil.events = rewrite
    refused(ukraine, nid, evil, ForkError, "do not hash to its signed checkpoint")


def test_access_log_does_not_tell_an_outsider_who_read_a_hidden_event(quartet) -> None:  # noqa: ANN001
    world, nid, ukraine, russia, usa, turkiye = quartet
    ru_id, us_id = russia.profile.party.party_id, usa.profile.party.party_id
    channel = usa.send_message(nid, "Back channel.", parties=[ru_id, us_id])
    russia.sync(nid)  # Russia fetches the channel's ciphertext
    outsider = ukraine.conn.get(f"/v1/negotiations/{nid}/access-log")["entries"]
    assert channel.seq not in {e["seq"] for e in outsider}
    member = usa.conn.get(f"/v1/negotiations/{nid}/access-log")["entries"]
    assert any(e["seq"] == channel.seq and e["device_key_id"] == russia.identity.device_key_id for e in member)
