"""Rounds in the pure fold: what a round holds, its outcome, and the refusals (table-driven)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from parley.protocol import workflow as wf
from parley.protocol.agreement import TEXT, derive_agreements
from parley.protocol.rounds import current_round, round_record, rounds_list
from parley.protocol.times import format_time

T0 = datetime(2025, 5, 16, 9, 0, tzinfo=UTC)
UA, RU, TR = "party-ua", "party-ru", "party-tr"


def at(hours: float) -> str:
    return format_time(T0 + timedelta(hours=hours))


class Log:
    """Builds a timeline: each call appends one event with the next sequence number."""

    def __init__(self) -> None:
        self.entries: list[wf.Entry] = []

    def add(self, type_, content, *, party=TR, audience=(UA, RU, TR), authority="member"):
        seq = len(self.entries) + 1
        self.entries.append(wf.Entry(seq=seq, event_id=f"e{seq}", created=at(seq), author=f"head of {party}",
                                     role="head", party=party, authority=authority, audience=tuple(audience),
                                     type=type_, content=content))
        return self

    def issue(self, issue_id="ceasefire"):
        return self.add(wf.ISSUE_ADD, {"issue_id": issue_id, "title": issue_id.capitalize()})

    def open(self, number, **extra):
        return self.add(wf.ROUND_OPEN, {"round_id": f"round-{number}", "number": number, "venue": "Istanbul",
                                        "starts": at(0), "ends": at(100), **extra})

    def close(self, number, outcome="Exchange of prisoners agreed."):
        return self.add(wf.ROUND_CLOSE, {"round_id": f"round-{number}", "outcome": outcome})

    def memo(self, memo_id="memo-ua", version=1, party=UA, audience=(UA, RU, TR)):
        return self.add(wf.MEMO_DELIVER, {"memo_id": memo_id, "version": version, "title": f"Memo {memo_id}",
                                          "positions": {"ceasefire": "Thirty days."}}, party=party, audience=audience)

    def respond(self, memo_id="memo-ua", party=RU):
        return self.add(wf.RESPONSE, {"memo_id": memo_id, "stances": {"ceasefire": {"stance": "accept"}}},
                        party=party, authority="head")

    def meeting(self, meeting_id="meeting-1"):
        return self.add(wf.MEETING_PROPOSE, {"meeting_id": meeting_id, "venue": "Istanbul, Çırağan Palace",
                                             "start": at(50), "end": at(58), "timezone": "Europe/Istanbul",
                                             "level": "delegation", "agenda": []}, party=RU)

    def answer(self, meeting_id="meeting-1", party=UA):
        return self.add(wf.MEETING_RESPOND, {"meeting_id": meeting_id, "answer": "accept"}, party=party)

    def text(self, version=1):
        return self.add(TEXT, {"agreement_id": "agreement-1", "version": version, "title": "Istanbul memorandum",
                               "articles": [{"number": 1, "heading": "Ceasefire", "text": f"Version {version}."}]})

    def link(self, number, kind, ref, party=UA):
        return self.add(wf.ROUND_LINK, {"round_id": f"round-{number}", "kind": kind, "ref": ref}, party=party)

    def fold(self):
        views = wf.derive_views(self.entries, {})
        agreements, _ = derive_agreements(self.entries)
        return views, agreements


def held(log, number=1):
    views, agreements = log.fold()
    return [(i["kind"], i["ref"], i["how"]) for i in round_record(views, agreements, f"round-{number}")["items"]]


CASES = [
    ("memorandum before the round is not held", Log().issue().memo().open(1), []),
    ("memorandum while open is held", Log().issue().open(1).memo(),
     [("memorandum", "memo-ua", "posted")]),
    ("response and meeting while open are held", Log().issue().memo().open(1).respond().meeting().answer(),
     [("response", "memo-ua", "posted"), ("meeting", "meeting-1", "posted"),
      ("meeting answer", "meeting-1", "posted")]),
    ("nothing after the close", Log().issue().open(1).memo().close(1).memo("memo-ru", party=RU).respond(),
     [("memorandum", "memo-ua", "posted")]),
    ("agreement versions while open, by log position", Log().text(1).open(1).text(2).close(1).text(3),
     [("agreement version", "agreement-1", "posted")]),
    ("explicit links hold what came before", Log().issue().memo().meeting().text(1).open(1)
     .link(1, "memorandum", "memo-ua").link(1, "meeting", "meeting-1").link(1, "agreement", "agreement-1"),
     [("memorandum", "memo-ua", "linked"), ("meeting", "meeting-1", "linked"), ("agreement", "agreement-1", "linked")]),
    ("a link after the close still counts", Log().issue().open(1).close(1).memo().link(1, "memorandum", "memo-ua"),
     [("memorandum", "memo-ua", "linked")]),
    ("an invalid memorandum is not held", Log().issue().open(1).add(wf.MEMO_DELIVER, {"memo_id": "memo-x"}), []),
    ("a delegate's 'official' response is not held", Log().issue().memo().open(1)
     .add(wf.RESPONSE, {"memo_id": "memo-ua", "stances": {"ceasefire": {"stance": "accept"}}}, party=RU), []),
]


@pytest.mark.parametrize(("log", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_round_holds_what_happened_in_it(log, expected):
    assert held(log) == expected


def test_two_rounds_and_the_current_one():
    log = Log().issue().open(1).memo().close(1).open(2, agenda=["ceasefire"]).memo("memo-ru", party=RU)
    views, agreements = log.fold()
    assert current_round(views) == "round-2"
    first, second = rounds_list(views, agreements)
    assert (first["status"], first["outcome"], first["closed_by"]) == ("closed", "Exchange of prisoners agreed.", TR)
    assert [i["ref"] for i in first["items"]] == ["memo-ua"]
    assert [i["ref"] for i in second["items"]] == ["memo-ru"]
    assert second["agenda"] == [{"issue_id": "ceasefire", "title": "Ceasefire"}]
    assert current_round(Log().issue().open(1).close(1).fold()[0]) is None


def test_round_at_a_meeting_names_it():
    views, agreements = Log().issue().meeting().open(1, meeting_id="meeting-1").fold()
    record = round_record(views, agreements, "round-1")
    assert record["meeting"]["venue"] == "Istanbul, Çırağan Palace"


def test_items_a_member_cannot_read_are_counted_not_shown():
    # The round was opened to all; the bilateral memorandum only reached Russia.
    log = Log().issue().open(1).memo(audience=(UA, RU))
    reader_views = wf.derive_views([e for e in log.entries if e.type != wf.MEMO_DELIVER], {})
    record = round_record(reader_views, {}, "round-1")
    assert record["items"] == [] and record["unreadable"] == 0  # never seen: not held either
    link_log = Log().issue().open(1).link(1, "memorandum", "memo-secret")
    views, agreements = link_log.fold()
    record = round_record(views, agreements, "round-1")
    assert record["items"] == [] and record["unreadable"] == 1


REFUSED = [
    ("the same round opened twice", Log().issue().open(1).open(1), "exists already"),
    ("two rounds with one number", Log().issue().open(1).add(wf.ROUND_OPEN, {
        "round_id": "round-one", "number": 1, "venue": "Geneva", "starts": at(0)}), "number 1 exists already"),
    ("closing an unknown round", Log().close(3), "unknown round"),
    ("closing twice", Log().open(1).close(1).close(1, "Another outcome."), "closed already"),
    ("a round that ends before it starts", Log().open(1, ends=at(-5)), "a round that ends before it starts"),
    ("an agenda naming an unknown issue", Log().open(1, agenda=["territory"]), "unknown key issue 'territory'"),
    ("a link to an unknown round", Log().link(9, "memorandum", "memo-ua"), "unknown round"),
    ("a link of an unknown kind", Log().open(1).link(1, "channel", "channel-1"), "linked to one of"),
    ("a close without an outcome", Log().open(1).close(1, " "), "'outcome' must be non-empty"),
]


@pytest.mark.parametrize(("log", "message"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_bad_round_events_are_violations_that_change_nothing(log, message):
    views = wf.derive_views(log.entries, {})
    assert any(message in v for v in views.violations), views.violations


def test_a_second_close_does_not_rewrite_the_outcome():
    views = wf.derive_views(Log().open(1).close(1).close(1, "Another outcome.").entries, {})
    assert views.rounds["round-1"].outcome == "Exchange of prisoners agreed."
    assert views.rounds["round-1"].closed_seq == 2
