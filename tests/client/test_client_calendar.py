"""A meeting's ``.ics``: one calendar entry per meeting in the venue's time zone (VTIMEZONE), with METHOD,
SEQUENCE and a stable UID, so that a later answer (a decline, a counter-proposal) replaces the entry a
calendar imported before. Checked by parsing with icalendar."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from parley.client.workflow import Negotiation
from parley.errors import InputError


@pytest.fixture
def pair(world):  # noqa: ANN001, ANN201
    ukraine, russia = world.party("Ukraine"), world.party("Russian Federation")
    nid = world.negotiation(russia, ukraine)
    return Negotiation(russia, nid), Negotiation(ukraine, nid)


def _event(ics: bytes):  # noqa: ANN202
    calendar = Calendar.from_ical(ics)
    events = calendar.walk("VEVENT")
    assert len(events) == 1
    return calendar, events[0]


def test_meeting_entry_is_in_the_venue_time_zone_and_replaced_by_later_answers(pair) -> None:  # noqa: ANN001
    ru, ua = pair
    start = datetime(2031, 7, 14, 7, 0, tzinfo=UTC)  # 10:00 in Istanbul (UTC+3)
    meeting = ru.propose_meeting(venue="Istanbul, Dolmabahce Palace", start=start, end=start + timedelta(hours=6),
                                 timezone="Europe/Istanbul", level="delegation", parties=[ru.party_id("Ukraine")])
    ua.sync()
    with pytest.raises(InputError, match="only meetings every invited party accepted"):
        ua.ics(meeting)  # nothing agreed yet: no calendar entry
    ua.answer_meeting(meeting, "accept")
    ru.sync()

    calendar, first = _event(ru.ics(meeting))
    assert str(calendar["METHOD"]) == "REQUEST"
    assert str(first["STATUS"]) == "CONFIRMED"
    zones = calendar.walk("VTIMEZONE")
    assert [str(z["TZID"]) for z in zones] == ["Europe/Istanbul"]
    begins = first["DTSTART"]
    assert begins.params["TZID"] == "Europe/Istanbul"
    assert begins.dt.replace(tzinfo=None) == datetime(2031, 7, 14, 10, 0)
    assert begins.dt.astimezone(UTC) == start
    assert first["DTEND"].dt.astimezone(UTC) == start + timedelta(hours=6)
    assert str(first["LOCATION"]) == "Istanbul, Dolmabahce Palace"
    assert str(first["CLASS"]) == "CONFIDENTIAL"
    uid, sequence = str(first["UID"]), int(first["SEQUENCE"])
    assert uid == f"{meeting}@{ru.id}.parley"
    assert _event(ua.ics(meeting))[1]["UID"] == uid  # every party's file names the same entry

    # Ukraine declines after all: the same entry, cancelled, with a higher sequence.
    ua.answer_meeting(meeting, "decline", note="the dates no longer suit")
    ru.sync()
    calendar, cancelled = _event(ru.ics(meeting))
    assert str(calendar["METHOD"]) == "CANCEL"
    assert str(cancelled["STATUS"]) == "CANCELLED"
    assert str(cancelled["UID"]) == uid and int(cancelled["SEQUENCE"]) > sequence

    # Then a counter-proposal: tentative, higher again.
    from parley.protocol import workflow as wf

    later = start + timedelta(days=7)
    ua.answer_meeting(meeting, "counter", counter=wf.meeting_terms(
        venue="Geneva", start=later, end=later + timedelta(hours=4), timezone="Europe/Zurich"))
    ru.sync()
    calendar, tentative = _event(ru.ics(meeting))
    assert str(calendar["METHOD"]) == "REQUEST" and str(tentative["STATUS"]) == "TENTATIVE"
    assert str(tentative["UID"]) == uid and int(tentative["SEQUENCE"]) > int(cancelled["SEQUENCE"])

    # Accepted again: confirmed, highest sequence; DTSTAMP is the time of the last answer.
    ua.answer_meeting(meeting, "accept")
    ru.sync()
    calendar, again = _event(ru.ics(meeting))
    assert str(again["STATUS"]) == "CONFIRMED" and int(again["SEQUENCE"]) > int(tentative["SEQUENCE"])
    assert again["DTSTAMP"].dt >= first["DTSTAMP"].dt


def test_a_utc_meeting_needs_no_daylight_rules(pair) -> None:  # noqa: ANN001
    ru, ua = pair
    start = datetime(2031, 1, 5, 9, 0, tzinfo=UTC)
    meeting = ru.propose_meeting(venue="Online", start=start, end=start + timedelta(hours=1), timezone="UTC",
                                 level="delegation", parties=[ru.party_id("Ukraine")])
    ua.sync()
    ua.answer_meeting(meeting, "accept")
    _calendar, event = _event(ua.ics(meeting))
    assert event["DTSTART"].dt.astimezone(ZoneInfo("UTC")) == start
