"""Notifications: what awaits a member (an official response, a meeting answer), told once per item and
version, from the verified local copy."""

from __future__ import annotations

from datetime import timedelta

from parley.client.notify import Notifier, awaiting_me, describe
from parley.client.workflow import Negotiation


def test_what_awaits_me_is_told_once_and_cleared_when_done(trio, world) -> None:  # noqa: ANN001
    ua, ru = Negotiation(trio.ukraine, trio.nid), Negotiation(trio.russia, trio.nid)
    issue = ua.add_issue("Ceasefire", "ceasefire")
    ru_id = ru.party_id("Russian Federation")
    memo = ua.deliver_memorandum("Positions of Ukraine", {issue: "Thirty days."}, to=[ru_id],
                                 respond_by=world.clock.now + timedelta(days=2))
    start = (world.clock.now + timedelta(days=7)).replace(hour=10, minute=0, second=0)
    meeting = ua.propose_meeting(venue="Istanbul", start=start, end=start + timedelta(hours=4),
                                 timezone="Europe/Istanbul", level="delegation", parties=[ru_id])
    notifier = Notifier()
    ru.sync()
    told = notifier.update(awaiting_me(ru), {trio.nid})
    assert sorted(i["kind"] for i in told) == ["meeting answer", "official response"]
    response = next(i for i in told if i["kind"] == "official response")
    assert response["ref"] == memo and response["asked_by"] == "Ukraine" and response["due"]
    assert "an official response is awaited from you on 'Positions of Ukraine' from Ukraine (due" in describe(response)
    assert notifier.update(awaiting_me(ru), {trio.nid}) == []  # told once
    assert awaiting_me(ua) == []  # nothing awaits the author
    ru.respond(memo, {issue: {"stance": "accept"}})
    ru.answer_meeting(meeting, "accept")
    assert notifier.update(awaiting_me(ru), {trio.nid}) == [] and awaiting_me(ru) == []
    # A revised memorandum awaits a new response: told again.
    ua.sync()
    ua.deliver_memorandum("Positions of Ukraine", {issue: "Twenty days."}, to=[ru_id], memo_id=memo)
    ru.sync()
    again = notifier.update(awaiting_me(ru), {trio.nid})
    assert [(i["kind"], i["ref"]) for i in again] == [("official response", memo)]
