"""Meeting proposals and counter-proposals: one check of venue, times and time zone for both."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from parley.errors import InputError
from parley.protocol import workflow as wf

GOOD = {"venue": "Istanbul, Çırağan Palace", "start": "2025-06-02T10:00:00Z", "end": "2025-06-02T18:00:00Z",
        "timezone": "Europe/Istanbul"}

BAD_TERMS = [
    ({"venue": "  "}, "needs a venue"),
    ({"venue": None}, "needs a venue"),
    ({"end": "2025-06-02T09:00:00Z"}, "ends before it starts"),
    ({"end": "2025-06-02T10:00:00Z"}, "ends before it starts"),
    ({"start": "2 June, 10 am"}, "must look like"),
    ({"timezone": "Mars/Olympus_Mons"}, "unknown time zone"),
    ({"timezone": ""}, "IANA name"),
]


def _proposal(terms):
    return {"meeting_id": "meeting-1", **terms, "level": "delegation", "agenda": []}


def _counter(terms):
    return {"meeting_id": "meeting-1", "answer": "counter", "counter": terms}


@pytest.mark.parametrize(("change", "message"), BAD_TERMS)
def test_proposal_and_counter_proposal_refuse_the_same_bad_terms(change, message):
    terms = {**GOOD, **change}
    with pytest.raises(InputError, match=message):
        wf.check_content(wf.MEETING_PROPOSE, _proposal(terms))
    with pytest.raises(InputError, match=message):
        wf.check_content(wf.MEETING_RESPOND, _counter(terms))
    with pytest.raises(InputError, match=message):
        wf.meeting_terms(**terms)


def test_good_terms_pass_for_proposal_and_counter_proposal():
    wf.check_content(wf.MEETING_PROPOSE, _proposal(GOOD))
    wf.check_content(wf.MEETING_RESPOND, _counter(GOOD))
    built = wf.meeting_terms(venue=GOOD["venue"], start=datetime(2025, 6, 2, 10, tzinfo=UTC),
                             end=datetime(2025, 6, 2, 18, tzinfo=UTC), timezone="Europe/Istanbul")
    assert built == GOOD


def test_counter_proposal_without_terms_is_refused():
    with pytest.raises(InputError, match="gives venue, start and end"):
        wf.check_content(wf.MEETING_RESPOND, {"meeting_id": "meeting-1", "answer": "counter"})


def test_terms_with_an_acceptance_are_refused_rather_than_silently_dropped():
    with pytest.raises(InputError, match="go with the answer 'counter'"):
        wf.check_content(wf.MEETING_RESPOND, {"meeting_id": "meeting-1", "answer": "accept", "counter": GOOD})


def test_counter_proposal_written_without_a_time_zone_still_reads():
    legacy = {k: v for k, v in GOOD.items() if k != "timezone"}
    wf.check_content(wf.MEETING_RESPOND, _counter(legacy))
