"""The pure workflow fold, table-driven: a sequence of events -> the views, or the violation. No relay, no keys."""

from __future__ import annotations

from typing import Any

import pytest

from parley.protocol import workflow as wf
from parley.protocol.bodies import Stance
from parley.protocol.workflow import Entry, derive_views

UA, RU, TR = "party-ua", "party-ru", "party-tr"
NAMES = {UA: "Ukraine", RU: "Russian Federation", TR: "Türkiye"}


def e(event_type: str, content: dict[str, Any], *, party: str = UA, role: str = "head", authority: str = "member",
      audience: tuple[str, ...] = (UA, RU, TR), author: str | None = None) -> dict[str, Any]:
    """One event of a table (its seq is its position in the table)."""
    return {"type": event_type, "content": content, "party": party, "role": role, "authority": authority,
            "audience": audience, "author": author or f"{NAMES[party]} {role}"}


def fold(events: list[dict[str, Any]]) -> list[Entry]:
    return [Entry(seq=i, event_id=f"ev-{i}", created=f"2025-06-02T10:{i:02d}:00Z", **ev) for i, ev in enumerate(events)]


ISSUE = e(wf.ISSUE_ADD, {"issue_id": "ceasefire", "title": "Ceasefire"}, party=TR)
MEMO = e(wf.MEMO_DELIVER, {"memo_id": "m1", "version": 1, "title": "Memorandum",
                           "positions": {"ceasefire": "Thirty days."}}, party=UA, audience=(RU, TR, UA))
MEETING = e(wf.MEETING_PROPOSE, {"meeting_id": "mt1", "venue": "Istanbul", "start": "2025-06-09T07:00:00Z",
                                 "end": "2025-06-09T15:00:00Z", "timezone": "Europe/Istanbul",
                                 "level": "delegation"}, party=RU, audience=(RU, TR, UA))


# ---- workflow: event sequence -> views -----------------------------------------------------------------
WORKFLOW_VIEWS = [
    ("issue added, renamed, closed",
     [ISSUE, e(wf.ISSUE_RENAME, {"issue_id": "ceasefire", "title": "Ceasefire and monitoring"}, party=TR),
      e(wf.ISSUE_CLOSE, {"issue_id": "ceasefire"}, party=TR)],
     lambda v: v.issues["ceasefire"].title == "Ceasefire and monitoring" and v.issues["ceasefire"].status == "closed"),
    ("memorandum delivered to the other parties of its audience",
     [ISSUE, MEMO], lambda v: v.memoranda["m1"].delivered_to == [RU, TR] and v.memoranda["m1"].version == 1),
    ("a second version keeps the first",
     [ISSUE, MEMO, {**MEMO, "content": {**MEMO["content"], "version": 2, "positions": {"ceasefire": "Twenty."}}}],
     lambda v: [x.version for x in v.memoranda["m1"].versions] == [1, 2]
     and v.memoranda["m1"].positions == {"ceasefire": "Twenty."}),
    ("receipt recorded once per party (the first)",
     [ISSUE, MEMO, e(wf.RECEIPT, {"memo_id": "m1", "event_id": "ev-1"}, party=RU),
      e(wf.RECEIPT, {"memo_id": "m1", "event_id": "ev-1"}, party=RU, role="delegate")],
     lambda v: v.memoranda["m1"].receipts[RU].at == "2025-06-02T10:02:00Z"),
    ("official response by a head",
     [ISSUE, MEMO, e(wf.RESPONSE, {"memo_id": "m1", "stances": {"ceasefire": {"stance": "accept"}}}, party=RU,
                     authority="head")],
     lambda v: v.memoranda["m1"].responses[RU].stances == {"ceasefire": Stance(stance="accept")}),
    ("head-only sections",
     [ISSUE, MEMO, e(wf.MEMO_RESTRICTED, {"memo_id": "m1", "sections": {"ceasefire": "Twenty is fine."}})],
     lambda v: v.memoranda["m1"].restricted == {"ceasefire": "Twenty is fine."}),
    ("draft versions stay per memorandum",
     [ISSUE, e(wf.MEMO_DRAFT, {"memo_id": "d1", "version": 1, "title": "Draft", "positions": {"ceasefire": "x"}},
               audience=(UA,))],
     lambda v: len(v.drafts["d1"]) == 1 and not v.memoranda),
    ("meeting proposed and answered",
     [ISSUE, MEETING, e(wf.MEETING_RESPOND, {"meeting_id": "mt1", "answer": "accept"}, party=UA),
      e(wf.MEETING_RESPOND, {"meeting_id": "mt1", "answer": "accept"}, party=TR)],
     lambda v: wf.meeting_status(v.meetings["mt1"]) == "accepted" and v.meetings["mt1"].invited == [TR, UA]),
    ("a declined meeting",
     [MEETING, e(wf.MEETING_RESPOND, {"meeting_id": "mt1", "answer": "decline"}, party=UA)],
     lambda v: wf.meeting_status(v.meetings["mt1"]) == "declined"),
    ("channel between two capitals",
     [e(wf.CHANNEL_OPEN, {"channel_id": "c1", "name": "line"}, party=RU, audience=(RU, UA)),
      e(wf.CHANNEL_MESSAGE, {"channel_id": "c1", "text": "hello"}, party=UA, audience=(RU, UA))],
     lambda v: v.channels["c1"].parties == [RU, UA] and [m.text for m in v.channels["c1"].messages] == ["hello"]),
    ("round opened and closed",
     [e(wf.ROUND_OPEN, {"round_id": "r1", "number": 1, "venue": "Istanbul", "starts": "2025-06-02T07:00:00Z"},
        party=TR),
      e(wf.ROUND_CLOSE, {"round_id": "r1", "outcome": "adjourned"}, party=TR)],
     lambda v: v.rounds["r1"].status == "closed" and v.rounds["r1"].outcome == "adjourned"),
    ("comment attached to the memorandum it names",
     [ISSUE, MEMO, e(wf.COMMENT, {"ref": "m1", "text": "see annex"}, party=TR)],
     lambda v: [c.text for c in v.memoranda["m1"].comments] == ["see annex"]),
]


@pytest.mark.parametrize(("events", "holds"), [(ev, holds) for _, ev, holds in WORKFLOW_VIEWS],
                         ids=[name for name, _, _ in WORKFLOW_VIEWS])
def test_workflow_fold(events, holds):
    views = derive_views(fold(events), NAMES)
    assert views.violations == []
    assert holds(views)


# ---- workflow: event sequence -> the violation, and the view without it ---------------------------------
WORKFLOW_VIOLATIONS = [
    ("a delegate's 'official' response",
     [ISSUE, MEMO, e(wf.RESPONSE, {"memo_id": "m1", "stances": {"ceasefire": {"stance": "accept"}}}, party=RU,
                     role="delegate", authority="head")],
     "must come from a head of delegation", lambda v: v.memoranda["m1"].responses == {}),
    ("a head answering without head authority",
     [ISSUE, MEMO, e(wf.RESPONSE, {"memo_id": "m1", "stances": {"ceasefire": {"stance": "accept"}}}, party=RU)],
     "must come from a head of delegation", lambda v: v.memoranda["m1"].responses == {}),
    ("a party responding to its own memorandum",
     [ISSUE, MEMO, e(wf.RESPONSE, {"memo_id": "m1", "stances": {"ceasefire": {"stance": "accept"}}}, party=UA,
                     authority="head")],
     "cannot officially respond to its own memorandum", lambda v: v.memoranda["m1"].responses == {}),
    ("a response to an unknown memorandum",
     [ISSUE, e(wf.RESPONSE, {"memo_id": "m9", "stances": {"ceasefire": {"stance": "accept"}}}, party=RU,
               authority="head")],
     "no memorandum 'm9'", lambda v: v.memoranda == {}),
    ("a stance on an issue the memorandum does not take",
     [ISSUE, e(wf.ISSUE_ADD, {"issue_id": "prisoners", "title": "Prisoners"}, party=TR), MEMO,
      e(wf.RESPONSE, {"memo_id": "m1", "stances": {"prisoners": {"stance": "accept"}}}, party=RU, authority="head")],
     "takes no position on 'prisoners'", lambda v: v.memoranda["m1"].responses == {}),
    ("a counter without text",
     [ISSUE, MEMO, e(wf.RESPONSE, {"memo_id": "m1", "stances": {"ceasefire": {"stance": "counter"}}}, party=RU,
                     authority="head")],
     "text", lambda v: v.memoranda["m1"].responses == {}),
    ("an issue added twice",
     [ISSUE, ISSUE], "key issue exists already", lambda v: list(v.issues) == ["ceasefire"]),
    ("renaming an unknown issue",
     [e(wf.ISSUE_RENAME, {"issue_id": "nope", "title": "x"})], "unknown key issue 'nope'", lambda v: v.issues == {}),
    ("a memorandum on an unknown issue",
     [MEMO], "unknown key issue 'ceasefire'", lambda v: v.memoranda == {}),
    ("another party's memorandum id",
     [ISSUE, MEMO, {**MEMO, "party": RU, "audience": (RU, TR, UA)}], "another party's memorandum id",
     lambda v: v.memoranda["m1"].party == UA),
    ("restricted sections for another party's memorandum",
     [ISSUE, MEMO, e(wf.MEMO_RESTRICTED, {"memo_id": "m1", "sections": {"ceasefire": "x"}}, party=RU)],
     "restricted sections for an unknown memorandum", lambda v: v.memoranda["m1"].restricted == {}),
    ("a receipt for an unknown memorandum",
     [e(wf.RECEIPT, {"memo_id": "m9", "event_id": "ev-0"}, party=RU)], "receipt for an unknown memorandum",
     lambda v: v.memoranda == {}),
    ("an answer to an unknown meeting",
     [e(wf.MEETING_RESPOND, {"meeting_id": "mt9", "answer": "accept"})], "no meeting 'mt9'",
     lambda v: v.meetings == {}),
    ("a meeting that ends before it starts",
     [{**MEETING, "content": {**MEETING["content"], "end": "2025-06-08T07:00:00Z"}}], "end",
     lambda v: v.meetings == {}),
    ("a message to an unknown channel",
     [e(wf.CHANNEL_MESSAGE, {"channel_id": "c9", "text": "x"})], "no channel 'c9'", lambda v: v.channels == {}),
    ("closing an unknown round",
     [e(wf.ROUND_CLOSE, {"round_id": "r9", "outcome": "x"})], "unknown round", lambda v: v.rounds == {}),
    ("an unknown event type",
     [e("memorandum.burn", {"memo_id": "m1"})], "unknown event type", lambda v: v.memoranda == {}),
]


@pytest.mark.parametrize(("events", "violation", "holds"), [(ev, msg, holds) for _, ev, msg, holds in WORKFLOW_VIOLATIONS],
                         ids=[name for name, *_ in WORKFLOW_VIOLATIONS])
def test_workflow_violation(events, violation, holds):
    views = derive_views(fold(events), NAMES)
    assert len(views.violations) == 1, views.violations
    assert violation in views.violations[0]
    assert views.violations[0].startswith(f"event {len(events) - 1} (")
    assert holds(views)


def test_workflow_fold_orders_by_seq_not_by_arrival():
    entries = fold([ISSUE, MEMO])
    assert derive_views(list(reversed(entries)), NAMES).memoranda["m1"].version == 1
