"""History grants: a head re-encrypts earlier content to a new device or a late party, in the log; what was
not granted stays unreadable; a grant outside the rule is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from parley.client.devices import finish_link, link_device, request_link
from parley.client.grants import GRANT, grant_history, refused_grants
from parley.errors import ForbiddenError, InputError


def _texts(client, nid: str) -> dict[str, dict | None]:  # noqa: ANN001
    return {e["content"]["text"]: e for e in client.timeline(nid) if e["type"] == "message"}


def _link(world, holder, tmp_path: Path):  # noqa: ANN001, ANN202
    pending = request_link(tmp_path / "phone", "http://relay", passphrase=None, transport=world.transport)
    link_device(holder, pending.code)
    client = finish_link(pending, passphrase=None, transport=world.transport, clock=world.clock)
    world.clients.append(client)
    return client


def test_new_device_reads_only_what_a_head_granted(trio, world, tmp_path: Path) -> None:  # noqa: ANN001
    laptop = trio.ukraine
    first = laptop.send_message(trio.nid, "our first position")
    laptop.send_message(trio.nid, "a second, not granted")
    trio.russia.send_message(trio.nid, "Moscow's reply")
    phone = _link(world, laptop, tmp_path)
    before = [e for e in phone.timeline(trio.nid) if e["seq"] < first.seq + 3 and e["type"] is None]
    assert len(before) >= 3 and not any(e["readable"] for e in before)  # forward-only: nothing earlier
    grant_history(laptop, trio.nid, devices=[phone.identity.device_key_id], seqs=[first.seq, first.seq + 2])
    phone.sync(trio.nid)
    texts = _texts(phone, trio.nid)
    assert texts["our first position"]["content"]["text"] == "our first position"
    assert "Moscow's reply" in texts  # received by Ukraine, passed by its head to its own new device
    assert "a second, not granted" not in texts  # not granted: still unreadable
    granted = next(e for e in phone.timeline(trio.nid) if e["seq"] == first.seq)
    assert granted["readable"] and granted["author"] == "Head of delegation"
    body = phone.cache.events(trio.nid)[first.seq][2]
    assert body["granted_by"] == "Head of delegation"
    # The grant is in the log, encrypted to the phone only; Russia, outside its audience, holds only its hidden
    # entry: not who granted what to whom, nor that it is a grant.
    trio.russia.sync(trio.nid)
    grant_seq = phone.cache.last_seq(trio.nid)
    assert grant_seq not in [e["seq"] for e in trio.russia.timeline(trio.nid)]
    assert set(trio.russia.cache.events(trio.nid)[grant_seq][1]) == {"hidden"}
    assert phone.timeline(trio.nid)[-1]["type"] == GRANT


def test_late_party_gets_the_grantors_own_words_only(trio, world) -> None:  # noqa: ANN001
    ukraine, russia = trio.ukraine, trio.russia
    ukraine.send_message(trio.nid, "Kyiv's opening statement")
    russia.send_message(trio.nid, "Moscow's opening statement")
    usa = world.party("United States", member="Observer")
    for a, b in ((ukraine, usa), (usa, ukraine), (usa, russia), (russia, usa), (usa, trio.swiss), (trio.swiss, usa)):
        a.profile.pin(b.profile.party, verified=True)
    ukraine.invite(trio.nid, usa.profile.party.party_id)
    usa.join(trio.nid)
    assert _texts(usa, trio.nid) == {}
    # Ukraine's head grants everything it may grant to the United States: its own words, not Russia's.
    grant_history(ukraine, trio.nid, party=usa.profile.party.party_id)
    usa.sync(trio.nid)
    assert set(_texts(usa, trio.nid)) == {"Kyiv's opening statement"}
    # Russia's head granting Ukraine's words (not its own) is refused by the grantee.
    ukraine.send_message(trio.nid, "for Russia and Switzerland only", parties=[
        p for p in ukraine.state(trio.nid).joined_parties() if p != usa.profile.party.party_id])
    russia.sync(trio.nid)
    seq = russia.cache.last_seq(trio.nid)
    # The United States' party was outside the event's audience: the grant must show the header too.
    envelope = next(env for s, env, _, _ in russia.cache.events(trio.nid) if s == seq)
    russia.post(trio.nid, GRANT, {"grants": [{"seq": seq, "event_id": _event_id(russia, trio.nid, seq), "type": "message",
                                              "content": {"text": "for Russia and Switzerland only"},
                                              "header": envelope["header"], "signature": envelope["signature"]}]},
                parties=[usa.profile.party.party_id], authority="head")
    usa.sync(trio.nid)
    assert "for Russia and Switzerland only" not in _texts(usa, trio.nid)
    assert [r["reason"] for r in refused_grants(usa, trio.nid)] == [
        "'Head of delegation' granted an event that is not its party's to grant"]


def test_grant_by_a_delegate_is_refused(trio, world, tmp_path: Path) -> None:  # noqa: ANN001
    delegate = world.member(trio.ukraine, "Delegate", role="delegate")
    delegate.sync(trio.nid)
    first = trio.ukraine.send_message(trio.nid, "before the phone")
    phone = _link(world, trio.ukraine, tmp_path)
    with pytest.raises(ForbiddenError):
        grant_history(delegate, trio.nid, devices=[phone.identity.device_key_id])
    delegate.sync(trio.nid)
    delegate.post(trio.nid, GRANT, {"grants": [{"seq": first.seq, "event_id": first.event_id, "type": "message",
                                                "content": {"text": "before the phone"}}]},
                  parties=[trio.ukraine.profile.party.party_id])
    phone.sync(trio.nid)
    assert "before the phone" not in _texts(phone, trio.nid)
    assert refused_grants(phone, trio.nid)[0]["reason"] == "granted by someone who is not a head of delegation"
    with pytest.raises(InputError, match="nothing to grant"):
        grant_history(trio.ukraine, trio.nid, devices=[trio.ukraine.identity.device_key_id])


def test_a_malformed_grant_item_is_refused_and_the_well_formed_ones_still_apply(trio, world, tmp_path: Path
                                                                                 ) -> None:  # noqa: ANN001
    """Each granted event is checked against its declaration (``record_bodies.GrantedEvent``) on its own: an item
    whose content is missing or whose position is not a number is refused as malformed, not crashed on."""
    laptop = trio.ukraine
    first = laptop.send_message(trio.nid, "granted whole")
    phone = _link(world, laptop, tmp_path)
    laptop.sync(trio.nid)
    laptop.post(trio.nid, GRANT, {"grants": [
        {"seq": first.seq, "event_id": first.event_id, "type": "message", "content": {"text": "granted whole"}},
        {"seq": "first", "event_id": first.event_id, "type": "message", "content": {"text": "x"}},
        {"seq": first.seq, "event_id": first.event_id, "type": "message"}]},
        parties=[laptop.profile.party.party_id], authority="head", devices=[phone.identity.device_key_id])
    phone.sync(trio.nid)
    assert "granted whole" in _texts(phone, trio.nid)
    assert [r["reason"] for r in refused_grants(phone, trio.nid)] == ["a malformed grant"]


def test_grant_rewriting_the_header_of_a_hidden_event_is_refused(trio, world) -> None:  # noqa: ANN001
    """A late party holds only hidden entries of what was not for it. A head granting one of its own earlier
    events shows the header; re-signing that header with the late party added to the audience (to pass the
    event off as one the grantee was meant to read, or to change what it said) gives another event id."""
    from dataclasses import replace

    from parley.protocol.events import Audience, Envelope, sign_header

    ukraine = trio.ukraine
    posted = ukraine.send_message(trio.nid, "for Russia and Switzerland only")
    usa = world.party("United States", member="Observer")
    for a, b in ((ukraine, usa), (usa, ukraine), (usa, trio.russia), (usa, trio.swiss)):
        a.profile.pin(b.profile.party, verified=True)
    ukraine.invite(trio.nid, usa.profile.party.party_id)
    usa.join(trio.nid)
    stored = Envelope.from_obj(ukraine.cache.events(trio.nid)[posted.seq][1])
    header = stored.header
    widened = replace(header, audience=Audience(tuple(sorted({*header.audience.parties,
                                                             usa.profile.party.party_id})), None))
    for shown, reason in ((widened, "a grant whose header is not the event's, as its author signed it"),
                          (None, "a grant of an event hidden from this device, without the event's header")):
        item = {"seq": posted.seq, "event_id": posted.event_id, "type": "message",
                "content": {"text": "for Russia and Switzerland only"}}
        if shown is not None:
            item.update(header=shown.to_obj(), signature=sign_header(ukraine.identity.signing, shown))
        ukraine.post(trio.nid, GRANT, {"grants": [item]}, parties=[usa.profile.party.party_id], authority="head")
        usa.sync(trio.nid)
        assert "for Russia and Switzerland only" not in _texts(usa, trio.nid)
        assert reason in [r["reason"] for r in refused_grants(usa, trio.nid)]
    assert set(usa.cache.events(trio.nid)[posted.seq][1]) == {"hidden"}


def _event_id(client, nid: str, seq: int) -> str:  # noqa: ANN001
    import hashlib

    from parley.crypto.canonical import canonical_bytes

    return hashlib.sha256(canonical_bytes(client.cache.events(nid)[seq][1]["header"])).hexdigest()


def test_grant_of_a_file_larger_than_one_event_reaches_the_new_device(trio, world, tmp_path: Path) -> None:  # noqa: ANN001
    """A file is many chunk events of up to 512 KiB: a grant holds as many of them as one event's ciphertext
    takes, and the new device saves the whole file, byte for byte."""
    import os

    from parley.client.workflow import Negotiation

    laptop = Negotiation(trio.ukraine, trio.nid)
    issue = laptop.add_issue("Ceasefire", "ceasefire")
    annex = tmp_path / "prisoner-list.bin"
    annex.write_bytes(os.urandom(3 * 1024 * 1024 + 12345))
    memo = laptop.draft_memorandum("Draft with its list", {issue: "All for all."}, attachments=[annex])
    phone = _link(world, trio.ukraine, tmp_path)
    posted = grant_history(trio.ukraine, trio.nid, devices=[phone.identity.device_key_id])
    assert len(posted) > 1  # the chunks do not fit one grant
    on_phone = Negotiation(phone, trio.nid)
    draft = on_phone.fresh_views().drafts[memo][-1]
    attachment = draft.attachments[0]
    saved = on_phone.save_attachment(attachment.attachment_id, tmp_path / "saved.bin")
    assert saved.read_bytes() == annex.read_bytes()
