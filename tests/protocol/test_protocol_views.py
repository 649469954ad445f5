"""The workflow fold builds typed views (``parley.protocol.views``), and their plain form is the JSON shape every
output has always shown. Table-driven: a sequence of events -> the typed record and its attribute values."""

from __future__ import annotations

from typing import Any

import pytest

from parley.protocol import workflow as wf
from parley.protocol.bodies import Attachment, MeetingTerms, Stance
from parley.protocol.rounds import round_record
from parley.protocol.views import (
    ChannelMessageView,
    ChannelView,
    CommentView,
    DraftView,
    HeldItem,
    IssueView,
    MeetingAnswerView,
    MeetingView,
    MemorandumView,
    MemoVersion,
    ReceiptView,
    ResponseView,
    RoundView,
    TitleView,
    plain,
)
from parley.protocol.workflow import Entry, derive_views

UA, RU, TR = "party-ua", "party-ru", "party-tr"


def e(event_type: str, content: dict[str, Any], *, party: str = UA, role: str = "head", authority: str = "member",
      audience: tuple[str, ...] = (UA, RU, TR)) -> dict[str, Any]:
    return {"type": event_type, "content": content, "party": party, "role": role, "authority": authority,
            "audience": audience, "author": f"{party} {role}"}


def at(seq: int) -> str:
    return f"2025-06-02T10:{seq:02d}:00Z"


def fold(events: list[dict[str, Any]]) -> wf.Views:
    views = derive_views([Entry(seq=i, event_id=f"ev-{i}", created=at(i), **ev) for i, ev in enumerate(events)], {})
    assert views.violations == []
    return views


ISSUE = e(wf.ISSUE_ADD, {"issue_id": "ceasefire", "title": "Ceasefire"}, party=TR)
MEMO = e(wf.MEMO_DELIVER, {"memo_id": "m1", "version": 1, "title": "Memorandum", "respond_by": "2025-06-09T10:00:00Z",
                           "positions": {"ceasefire": "Thirty days."}}, audience=(RU, TR, UA))
MEMO_2 = {**MEMO, "content": {**MEMO["content"], "version": 2, "positions": {"ceasefire": "Twenty days."}}}
ACCEPT = e(wf.RESPONSE, {"memo_id": "m1", "stances": {"ceasefire": {"stance": "accept"}}}, party=RU, authority="head")
COUNTER = e(wf.RESPONSE, {"memo_id": "m1", "stances": {"ceasefire": {"stance": "counter", "text": "Ten."}},
                          "covering_text": "On version 2."}, party=RU, authority="head")
MEETING = e(wf.MEETING_PROPOSE, {"meeting_id": "mt1", "venue": "Istanbul", "start": "2025-06-09T07:00:00Z",
                                 "end": "2025-06-09T15:00:00Z", "timezone": "Europe/Istanbul", "level": "delegation",
                                 "agenda": ["ceasefire"]}, party=RU, audience=(RU, TR, UA))
ROUND = e(wf.ROUND_OPEN, {"round_id": "r1", "number": 1, "venue": "Istanbul", "starts": "2025-06-02T07:00:00Z",
                          "agenda": ["ceasefire"]}, party=TR)

# name, events, the record (from the views), its type, attribute values
TYPED = [
    ("key issue renamed and closed",
     [ISSUE, e(wf.ISSUE_RENAME, {"issue_id": "ceasefire", "title": "Ceasefire and monitoring"}, party=TR),
      e(wf.ISSUE_CLOSE, {"issue_id": "ceasefire"}, party=TR)],
     lambda v: v.issues["ceasefire"], IssueView,
     {"title": "Ceasefire and monitoring", "status": "closed", "added_by": TR, "since": at(0)}),
    ("round opened, holding a delivery, closed",
     [ISSUE, ROUND, MEMO, e(wf.ROUND_CLOSE, {"round_id": "r1", "outcome": "Adjourned."}, party=TR)],
     lambda v: v.rounds["r1"], RoundView,
     {"number": 1, "status": "closed", "outcome": "Adjourned.", "agenda": ["ceasefire"], "opened_by": TR,
      "opened_seq": 1, "closed_by": TR, "closed_at": at(3), "closed_seq": 3, "ends": None, "meeting_id": None}),
    ("what a round holds: a delivery posted while open, a meeting linked",
     [ISSUE, ROUND, MEMO, MEETING, e(wf.ROUND_LINK, {"round_id": "r1", "kind": "meeting", "ref": "mt1"}, party=UA)],
     lambda v: v.rounds["r1"].held[0], HeldItem,
     {"kind": "memorandum", "ref": "m1", "party": UA, "at": at(2), "seq": 2, "how": "posted", "version": 1}),
    ("a link to a round",
     [ISSUE, ROUND, MEETING, e(wf.ROUND_LINK, {"round_id": "r1", "kind": "meeting", "ref": "mt1"}, party=UA)],
     lambda v: v.rounds["r1"].held[-1], HeldItem,
     {"kind": "meeting", "ref": "mt1", "how": "linked", "seq": 3, "version": None}),
    ("a draft",
     [ISSUE, e(wf.MEMO_DRAFT, {"memo_id": "m1", "version": 1, "title": "Draft", "positions": {"ceasefire": "x"}},
               audience=(UA,))],
     lambda v: v.drafts["m1"][0], DraftView,
     {"version": 1, "title": "Draft", "positions": {"ceasefire": "x"}, "party": UA, "event_id": "ev-1",
      "attachments": []}),
    ("a memorandum delivered twice, from a draft",
     [ISSUE, e(wf.MEMO_DRAFT, {"memo_id": "m1", "version": 1, "title": "Draft", "positions": {"ceasefire": "x"}},
               audience=(UA,)), MEMO, MEMO_2],
     lambda v: v.memoranda["m1"], MemorandumView,
     {"memo_id": "m1", "party": UA, "version": 2, "positions": {"ceasefire": "Twenty days."},
      "delivered_to": [RU, TR], "delivered_at": at(3), "respond_by": "2025-06-09T10:00:00Z", "event_id": "ev-3",
      "from_draft": 1, "languages": ["en"], "prevailing": None, "copy": None, "restricted": {},
      "texts": {"en": {"title": "Memorandum", "positions": {"ceasefire": "Twenty days."}}}}),
    ("each delivered version",
     [ISSUE, MEMO, MEMO_2], lambda v: v.memoranda["m1"].versions[0], MemoVersion,
     {"version": 1, "positions": {"ceasefire": "Thirty days."}, "at": at(1), "title": "Memorandum",
      "from_draft": None}),
    ("the first receipt of a party",
     [ISSUE, MEMO, e(wf.RECEIPT, {"memo_id": "m1", "event_id": "ev-1"}, party=RU),
      e(wf.RECEIPT, {"memo_id": "m1", "event_id": "ev-1"}, party=RU, role="delegate")],
     lambda v: v.memoranda["m1"].receipts[RU], ReceiptView, {"at": at(2), "by": f"{RU} head", "event_id": "ev-1"}),
    ("an official response replacing an earlier one",
     [ISSUE, MEMO, ACCEPT, MEMO_2, COUNTER], lambda v: v.memoranda["m1"].responses[RU], ResponseView,
     {"number": 2, "replaces": at(2), "version": 2, "seq": 4, "covering_text": "On version 2.",
      "stances": {"ceasefire": Stance(stance="counter", text="Ten.")}, "attachments": []}),
    ("the response history keeps the first",
     [ISSUE, MEMO, ACCEPT, MEMO_2, COUNTER], lambda v: v.memoranda["m1"].response_history[RU][0], ResponseView,
     {"number": 1, "replaces": None, "version": 1, "stances": {"ceasefire": Stance(stance="accept")}}),
    ("a comment on the memorandum's event id",
     [ISSUE, MEMO, e(wf.COMMENT, {"ref": "ev-1", "text": "See the annex."}, party=TR)],
     lambda v: v.memoranda["m1"].comments[0], CommentView,
     {"at": at(2), "by": f"{TR} head", "party": TR, "text": "See the annex."}),
    ("a meeting accepted by every invited party",
     [ISSUE, MEETING, e(wf.MEETING_RESPOND, {"meeting_id": "mt1", "answer": "accept"}, party=UA),
      e(wf.MEETING_RESPOND, {"meeting_id": "mt1", "answer": "accept"}, party=TR)],
     lambda v: v.meetings["mt1"], MeetingView,
     {"proposed_by": RU, "invited": [TR, UA], "agenda": ["ceasefire"], "revision": 2, "changed_at": at(3),
      "was_accepted": True, "answer_by": None, "timezone": "Europe/Istanbul", "level": "delegation"}),
    ("a counter-proposal",
     [ISSUE, MEETING, e(wf.MEETING_RESPOND, {"meeting_id": "mt1", "answer": "counter", "note": "Later.",
                                      "counter": {"venue": "Geneva", "start": "2025-06-10T07:00:00Z",
                                                  "end": "2025-06-10T15:00:00Z"}}, party=UA)],
     lambda v: v.meetings["mt1"].answers[UA], MeetingAnswerView,
     {"answer": "counter", "note": "Later.", "at": at(2),
      "counter": MeetingTerms(venue="Geneva", start="2025-06-10T07:00:00Z", end="2025-06-10T15:00:00Z")}),
    ("a channel",
     [e(wf.CHANNEL_OPEN, {"channel_id": "c1", "name": "Line"}, party=RU, audience=(RU, UA)),
      e(wf.CHANNEL_MESSAGE, {"channel_id": "c1", "text": "Hello."}, audience=(RU, UA))],
     lambda v: v.channels["c1"], ChannelView, {"name": "Line", "parties": [RU, UA], "opened_by": RU}),
    ("a channel message",
     [e(wf.CHANNEL_OPEN, {"channel_id": "c1", "name": "Line"}, party=RU, audience=(RU, UA)),
      e(wf.CHANNEL_MESSAGE, {"channel_id": "c1", "text": "Hello."}, audience=(RU, UA))],
     lambda v: v.channels["c1"].messages[0], ChannelMessageView,
     {"seq": 1, "at": at(1), "party": UA, "text": "Hello.", "attachments": []}),
    ("the latest title",
     [e(wf.TITLE, {"title": "Istanbul talks"}), e(wf.TITLE, {"title": "Istanbul talks, second round"}, party=TR)],
     lambda v: v.title, TitleView,
     {"title": "Istanbul talks, second round", "party": TR, "at": at(1), "audience": [UA, RU, TR]}),
]


@pytest.mark.parametrize(("events", "record", "kind", "values"), [case[1:] for case in TYPED],
                         ids=[case[0] for case in TYPED])
def test_the_fold_builds_typed_views(events, record, kind, values):
    found = record(fold(events))
    assert isinstance(found, kind)
    assert {name: getattr(found, name) for name in values} == values


def test_nested_records_are_typed_too():
    views = fold([ISSUE, ROUND, MEMO, ACCEPT, e(wf.RECEIPT, {"memo_id": "m1", "event_id": "ev-2"}, party=RU)])
    memo = views.memoranda["m1"]
    assert all(isinstance(v, MemoVersion) for v in memo.versions)
    assert all(isinstance(r, ResponseView) for history in memo.response_history.values() for r in history)
    assert memo.responses[RU] is memo.response_history[RU][-1]
    assert all(isinstance(h, HeldItem) for h in views.rounds["r1"].held)
    assert [(h.kind, h.version) for h in views.rounds["r1"].held] == [("memorandum", 1), ("response", None)]


def test_values_as_signed_keep_their_body_types():
    listed = {"attachment_id": "file-1", "name": "list.pdf", "size": 3, "sha256": "0" * 64, "chunks": 1}
    views = fold([ISSUE, MEMO, ACCEPT, MEETING, e(wf.MEETING_RESPOND, {
        "meeting_id": "mt1", "answer": "counter",
        "counter": {"venue": "Geneva", "start": "2025-06-10T07:00:00Z", "end": "2025-06-10T15:00:00Z"}}, party=UA),
        e(wf.CHANNEL_OPEN, {"channel_id": "c1", "name": "Line"}, party=RU, audience=(RU, UA)),
        e(wf.CHANNEL_MESSAGE, {"channel_id": "c1", "text": "The list.", "attachments": [listed]}, audience=(RU, UA))])
    (attachment,) = views.channels["c1"].messages[0].attachments
    assert isinstance(attachment, Attachment) and attachment.attachment_id == "file-1"
    assert plain(views.channels["c1"])["messages"][0]["attachments"] == [listed]  # no "stamped": as signed
    assert isinstance(views.memoranda["m1"].responses[RU].stances["ceasefire"], Stance)
    assert isinstance(views.meetings["mt1"].answers[UA].counter, MeetingTerms)
    (meeting,) = wf.calendar(views)
    assert meeting["answers"][UA]["counter"] == {"venue": "Geneva", "start": "2025-06-10T07:00:00Z",
                                                 "end": "2025-06-10T15:00:00Z"}  # no time zone key: as signed
    matrix = wf.positions_matrix(views, [UA, RU])
    assert matrix["issues"][0]["cells"][RU]["stance"] == {"stance": "accept"}


def test_a_memorandum_in_plain_form_keeps_its_json_shape():
    memo = plain(fold([ISSUE, MEMO, e(wf.RECEIPT, {"memo_id": "m1", "event_id": "ev-1"}, party=RU), ACCEPT,
                       e(wf.COMMENT, {"ref": "m1", "text": "Noted."}, party=TR)]).memoranda["m1"])
    assert list(memo) == ["memo_id", "party", "versions", "receipts", "responses", "response_history", "restricted",
                          "comments", "title", "positions", "version", "delivered_at", "delivered_to", "respond_by",
                          "event_id", "attachments", "copy", "from_draft", "languages", "prevailing", "texts"]
    response = {"at": at(3), "by": f"{RU} head", "stances": {"ceasefire": {"stance": "accept"}}, "covering_text": None,
                "version": 1, "number": 1, "replaces": None, "seq": 3, "attachments": []}
    assert memo["responses"] == {RU: response} and memo["response_history"] == {RU: [response]}
    assert memo["receipts"] == {RU: {"at": at(2), "by": f"{RU} head", "event_id": "ev-1"}}
    assert memo["versions"] == [{"version": 1, "positions": {"ceasefire": "Thirty days."}, "at": at(1),
                                 "title": "Memorandum", "from_draft": None}]
    assert memo["comments"] == [{"at": at(4), "by": f"{TR} head", "party": TR, "text": "Noted."}]


def test_the_outputs_built_from_typed_views_are_plain():
    views = fold([ISSUE, ROUND, MEETING, MEMO, e(wf.ROUND_LINK, {"round_id": "r1", "kind": "meeting", "ref": "mt1"},
                                                 party=UA)])
    (meeting,) = wf.calendar(views)
    assert type(meeting) is dict and meeting["status"] == "awaiting answer" and meeting["answers"] == {}
    assert list(meeting)[:3] == ["meeting_id", "proposed_by", "venue"]
    record = round_record(views, {}, "r1")
    assert [type(i) for i in record["items"]] == [dict, dict, dict]
    # the version of a held item shows for a delivered memorandum only, as it always did
    assert [sorted(i) for i in record["items"]] == [
        ["at", "how", "kind", "party", "ref", "seq", "title"],
        ["at", "how", "kind", "party", "ref", "seq", "title", "version"],
        ["at", "how", "kind", "party", "ref", "seq", "title"]]
    assert "held" not in record and record["agenda"] == [{"issue_id": "ceasefire", "title": "Ceasefire"}]
    texts = wf.memo_texts(views, "m1")
    assert texts["1"] == {"kind": "delivered", "version": 1, "positions": {"ceasefire": "Thirty days."},
                          "at": at(3), "title": "Memorandum", "from_draft": None}
