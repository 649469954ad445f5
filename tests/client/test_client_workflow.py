"""The negotiation workflow end to end, with each access rule tested from the other side."""

from __future__ import annotations

from datetime import timedelta

import pytest

from parley.client.workflow import Negotiation
from parley.errors import ForbiddenError, InputError, ProtocolError


@pytest.fixture
def talks(world):
    ukraine = world.party("Ukraine")
    russia = world.party("Russian Federation")
    turkiye = world.party("Türkiye", member="Mediator")
    usa = world.party("United States", member="Observer")
    ua_delegate = world.member(ukraine, "Delegate", "delegate")
    ru_delegate = world.member(russia, "Delegate", "delegate")
    nid = world.negotiation(turkiye, ukraine, russia, usa)
    for c in (ua_delegate, ru_delegate):
        for other in (ukraine, russia, turkiye, usa):
            c.profile.pin(other.profile.party, verified=True)
    return {"ua": Negotiation(ukraine, nid), "ru": Negotiation(russia, nid), "tr": Negotiation(turkiye, nid),
            "us": Negotiation(usa, nid), "ua_d": Negotiation(ua_delegate, nid), "ru_d": Negotiation(ru_delegate, nid),
            "world": world}


def test_memorandum_receipt_response_and_positions(talks):
    ua, ru, tr = talks["ua"], talks["ru"], talks["tr"]
    ceasefire = tr.add_issue("Ceasefire", "ceasefire")
    prisoners = tr.add_issue("Exchange of prisoners", "prisoners")
    ru_id = ru.party_id("Russian Federation")
    memo = ua.deliver_memorandum("Positions of Ukraine", {ceasefire: "Full ceasefire for 30 days.",
                                                          prisoners: "All for all."}, to=[ru_id],
                                 restricted={ceasefire: "Fallback: 20 days."})
    ru.sync()
    ua.sync()
    status = ua.status()
    assert [r["awaiting"] for r in status["awaiting_official_response"]] == ["Russian Federation"]
    assert status["awaiting_official_response"][0]["received"] is True
    ru.respond(memo, {prisoners: {"stance": "accept"}, ceasefire: {"stance": "counter", "text": "Ten days."}},
               "The Russian side's official response.")
    ua.sync()
    status = ua.status()
    assert status["awaiting_official_response"] == []
    rows = {row["issue_id"]: row for row in status["positions_matrix"]["issues"]}
    assert rows[prisoners]["status"] == "agreed"
    assert rows[ceasefire]["status"] == "open"
    assert rows[ceasefire]["cells"]["Russian Federation"]["stance"]["stance"] == "counter"


def test_head_only_section_is_unreadable_to_delegate_of_same_party(talks):
    ua, ru, ru_d = talks["ua"], talks["ru"], talks["ru_d"]
    issue = talks["tr"].add_issue("Security guarantees", "security")
    memo = ua.deliver_memorandum("Positions", {issue: "Guarantees by third states."}, to=[ru.party_id("Russian Federation")],
                                 restricted={issue: "Red line: no neutrality clause."})
    ru.sync()
    ru_d.sync()
    assert ru.views().memoranda[memo]["restricted"] == {issue: "Red line: no neutrality clause."}
    assert ru_d.views().memoranda[memo]["restricted"] == {}
    assert ru_d.views().memoranda[memo]["positions"] == {issue: "Guarantees by third states."}


def test_member_outside_audience_gets_no_plaintext(talks):
    ua, ru, us = talks["ua"], talks["ru"], talks["us"]
    issue = talks["tr"].add_issue("Territory", "territory")
    memo = ua.deliver_memorandum("Bilateral", {issue: "Text only for Russia."}, to=[ru.party_id("Russian Federation")])
    us.sync()
    assert memo not in us.views().memoranda
    cached = us.client.cache.events(us.id)
    assert all("Text only for Russia." not in str(body) for _, _, body, _ in cached)


def test_official_response_by_delegate_is_refused_by_client_and_relay(talks):
    ua, ru, ru_d = talks["ua"], talks["ru"], talks["ru_d"]
    issue = talks["tr"].add_issue("Ceasefire", "ceasefire")
    memo = ua.deliver_memorandum("M", {issue: "x"}, to=[ru.party_id("Russian Federation")])
    ru_d.sync()
    with pytest.raises(ForbiddenError):
        ru_d.respond(memo, {issue: {"stance": "accept"}})
    # Bypassing the client's check: the relay refuses head authority from a delegate.
    with pytest.raises(ProtocolError):
        ru_d.client.post(ru_d.id, "response.official", {"memo_id": memo, "stances": {issue: {"stance": "accept"}}},
                         authority="head")


def test_channel_between_two_capitals_is_unreadable_to_others(talks):
    us, ru, ua = talks["us"], talks["ru"], talks["ua"]
    channel = us.open_channel("Washington-Moscow", [ru.party_id("Russian Federation")])
    us.channel_message(channel, "Presidents may speak at any time.")
    ru.sync()
    ua.sync()
    assert [m["text"] for m in ru.views().channels[channel]["messages"]] == ["Presidents may speak at any time."]
    assert channel not in ua.views().channels


def test_meeting_proposed_accepted_and_exported(talks):
    ru, ua = talks["ru"], talks["ua"]
    start = ru.client.clock() + timedelta(days=4)
    meeting = ru.propose_meeting(venue="Istanbul", start=start, end=start + timedelta(hours=6), timezone="Europe/Istanbul",
                                 level="delegation", parties=[ru.party_id("Ukraine")])
    ua.sync()
    assert ua.status()["meetings"][0]["status"] == "awaiting answer"
    ua.answer_meeting(meeting, "accept")
    ru.sync()
    assert ru.status()["meetings"][0]["status"] == "accepted"
    assert b"Istanbul" in ru.ics(meeting)


@pytest.mark.parametrize("action, message", [
    (lambda n: n.deliver_memorandum("M", {"no-such-issue": "x"}, to=[n.party_id("Russian Federation")]), "unknown key issue"),
    (lambda n: n.deliver_memorandum("M", {}, to=[n.party_id("Russian Federation")]), "empty"),
    (lambda n: n.respond("memo-unknown", {"x": {"stance": "accept"}}), "no memorandum"),
    (lambda n: n.propose_meeting(venue="Istanbul", start=n.client.clock(), end=n.client.clock() - timedelta(hours=1),
                                 timezone="UTC", level="delegation", parties=[n.party_id("Russian Federation")]),
     "ends before it starts"),
])
def test_bad_input_gets_clear_error_and_changes_nothing(talks, action, message):
    ua = talks["ua"]
    before = ua.client.sync(ua.id).size
    with pytest.raises(InputError, match=message):
        action(ua)
    assert ua.client.sync(ua.id).size == before
