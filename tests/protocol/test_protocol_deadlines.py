"""Deadlines of official responses, meeting answers and signatures, with the clock as a parameter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from parley.errors import InputError
from parley.protocol import workflow as wf
from parley.protocol.agreement import AgreementView
from parley.protocol.deadlines import deadline_state, pending_deadlines
from parley.protocol.times import check_deadline, format_time
from parley.protocol.views import AgreementVersion, FinalizedView, SignatureView

T0 = datetime(2025, 5, 16, 9, 0, tzinfo=UTC)
UA, RU, TR = "party-ua", "party-ru", "party-tr"


def at(hours: float) -> str:
    return format_time(T0 + timedelta(hours=hours))


def entry(seq, type_, content, *, party=UA, created=0.0, role="head", authority="member", audience=(UA, RU, TR)):
    return wf.Entry(seq=seq, event_id=f"e{seq}", created=at(created), author=f"head of {party}", role=role,
                    party=party, authority=authority, audience=tuple(audience), type=type_, content=content)


ISSUE = entry(1, wf.ISSUE_ADD, {"issue_id": "ceasefire", "title": "Ceasefire"}, party=TR)


def memo(respond_by, *, seq=2, created=1.0, version=1):
    return entry(seq, wf.MEMO_DELIVER, {"memo_id": "memo-ua", "version": version, "title": "Positions of Ukraine",
                                        "positions": {"ceasefire": "Thirty days."}, "respond_by": respond_by},
                 created=created, audience=(UA, RU))


def response(seq=3, created=2.0):
    return entry(seq, wf.RESPONSE, {"memo_id": "memo-ua", "stances": {"ceasefire": {"stance": "accept"}}},
                 party=RU, created=created, authority="head", audience=(UA, RU))


def meeting(answer_by, *, start=72.0):
    return entry(4, wf.MEETING_PROPOSE, {"meeting_id": "meeting-1", "venue": "Istanbul", "start": at(start),
                                         "end": at(start + 8), "timezone": "Europe/Istanbul", "level": "delegation",
                                         "agenda": ["ceasefire"], "answer_by": answer_by}, party=RU, created=1.0)


def meeting_answer(party, answer, seq=5):
    return entry(seq, wf.MEETING_RESPOND, {"meeting_id": "meeting-1", "answer": answer}, party=party, created=2.0)


def pending(entries, now_hours, agreements=None):
    views = wf.derive_views(entries, {})
    return views, pending_deadlines(views, agreements or {}, [UA, RU, TR], T0 + timedelta(hours=now_hours))


@pytest.mark.parametrize(("value", "message"), [
    (at(-1), "already past"),
    (at(0), "already past"),
    ("tomorrow", "must look like"),
    ("2025-02-30T10:00:00Z", "not a valid date"),
])
def test_deadline_in_the_past_or_malformed_is_refused_when_set(value, message):
    with pytest.raises(InputError, match=message):
        check_deadline(value, now=T0, what="respond-by deadline")


def test_deadline_in_the_future_or_absent_is_accepted():
    assert check_deadline(at(1), now=T0, what="respond-by deadline") == at(1)
    assert check_deadline(None, now=T0, what="respond-by deadline") is None


@pytest.mark.parametrize(("now_hours", "state", "hours_left"), [
    (0, "due", 48.0),
    (23.9, "due", 24.1),
    (24, "due soon", 24.0),
    (47.5, "due soon", 0.5),
    (48, "due soon", 0.0),
    (49, "overdue", -1.0),
    (24 * 10, "overdue", -192.0),
])
def test_deadline_state_moves_with_the_clock(now_hours, state, hours_left):
    assert deadline_state(at(48), T0 + timedelta(hours=now_hours)) == {"state": state, "hours_left": hours_left}


def test_official_response_deadline_is_listed_until_the_response_comes():
    _, rows = pending([ISSUE, memo(at(48))], 50)
    assert [(r["kind"], r["ref"], r["asked_by"], r["awaiting"], r["state"]) for r in rows] == [
        ("official response", "memo-ua", UA, RU, "overdue")]
    _, rows = pending([ISSUE, memo(at(48)), response()], 50)
    assert rows == []


def test_memorandum_without_deadline_is_awaited_but_not_listed_as_due():
    views, rows = pending([ISSUE, memo(None)], 50)
    assert rows == [] and [r["awaiting"] for r in wf.awaiting_responses(views, T0)] == [RU]


def test_backdated_deadline_in_a_received_memorandum_is_a_violation():
    views, rows = pending([ISSUE, memo(at(0.5), created=1.0)], 2)
    assert rows == [] and "memo-ua" not in views.memoranda
    assert "already past" in views.violations[0]


@pytest.mark.parametrize(("answers", "expected"), [
    ([], [TR, UA]),
    ([("party-ua", "accept")], [TR]),
    ([("party-ua", "accept"), ("party-tr", "counter")], []),
    ([("party-tr", "decline")], []),  # a declined meeting needs no further answers
])
def test_meeting_answers_awaited_by_their_deadline(answers, expected):
    entries = [ISSUE, meeting(at(24))]
    for seq, (party, answer) in enumerate(answers, start=5):
        content = {"meeting_id": "meeting-1", "answer": answer}
        if answer == "counter":
            content["counter"] = {"venue": "Geneva", "start": at(96), "end": at(100), "timezone": "Europe/Zurich"}
        entries.append(entry(seq, wf.MEETING_RESPOND, content, party=party, created=2.0))
    _, rows = pending(entries, 25)
    assert [r["awaiting"] for r in rows] == expected
    assert all(r["kind"] == "meeting answer" and r["state"] == "overdue" for r in rows)


def test_meeting_answer_deadline_after_the_meeting_starts_is_refused():
    with pytest.raises(InputError, match="after the meeting starts"):
        wf.check_content(wf.MEETING_PROPOSE, meeting(at(80), start=72.0).content)


def signed() -> SignatureView:
    """A signature as the fold records it (the deadlines read only who signed)."""
    return SignatureView(signature="", public_key="", device="", by="Head", at=at(2), event_id="", seq=2)


def text_version(title: str) -> AgreementVersion:
    """Version 1 of a text as the fold records it (the deadlines read only its number and title)."""
    return AgreementVersion(languages=["en"], prevailing=None, texts={}, authenticity="", version=1, title=title,
                            articles=[], text="", sha256="0" * 64, at=at(1), copy=None, seq=1, annexes=[])


def test_signature_deadline_lists_parties_that_have_not_signed():
    view = AgreementView("agreement-1", mediator=TR, versions=[text_version("Memorandum of Istanbul")],
                         finalized=FinalizedView(sha256="0" * 64, version=1, at=at(1), sign_by=at(10)),
                         signatures={TR: signed()})
    _, rows = pending([ISSUE], 5, {"agreement-1": view})
    assert [(r["kind"], r["awaiting"], r["state"], r["asked_by"]) for r in rows] == [
        ("signature", RU, "due soon", TR), ("signature", UA, "due soon", TR)]
    view.signatures.update({UA: signed(), RU: signed()})
    assert pending([ISSUE], 5, {"agreement-1": view})[1] == []


def test_rows_are_sorted_most_urgent_first():
    view = AgreementView("agreement-1", mediator=TR, versions=[text_version("Text")],
                         finalized=FinalizedView(sha256="0" * 64, version=1, at=at(1), sign_by=at(30)),
                         signatures={UA: signed(), TR: signed()})
    _, rows = pending([ISSUE, memo(at(48)), meeting(at(20))], 3, {"agreement-1": view})
    assert [(r["kind"], r["due"]) for r in rows] == [
        ("meeting answer", at(20)), ("meeting answer", at(20)), ("signature", at(30)), ("official response", at(48))]
