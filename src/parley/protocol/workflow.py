"""The negotiation workflow: content rules for each encrypted event type, and derived views.

Pure functions over a timeline of readable events (what one member's client
decrypted). Each view (agenda, memoranda, receipts, what awaits whose official
response, positions matrix, meetings, channels) is recomputed from the log, so
two members who read the same events see the same state whatever order their
syncs came in.

Authority that the relay must enforce without reading content travels in the
signed header: an official response is posted with ``authority: "head"``, which
the relay and every client refuse from anyone but a head of delegation; a
body of type ``response.official`` in an event without it is ignored here and
flagged as a protocol violation.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from parley.errors import InputError, ProtocolError
from parley.protocol.bodies import Body, decode_content
from parley.protocol.languages import DEFAULT_LANGUAGE, check_languages, texts_by_language
from parley.protocol.times import check_deadline, format_time, parse_time
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

ISSUE_ADD, ISSUE_RENAME, ISSUE_CLOSE = "agenda.issue.add", "agenda.issue.rename", "agenda.issue.close"
AGENDA_TYPES = frozenset({ISSUE_ADD, ISSUE_RENAME, ISSUE_CLOSE})
ROUND_OPEN, ROUND_CLOSE, ROUND_LINK = "round.open", "round.close", "round.link"
MEMO_DRAFT, MEMO_DELIVER, MEMO_RESTRICTED = "memorandum.draft", "memorandum.deliver", "memorandum.restricted"
RECEIPT = "receipt"
RESPONSE, COMMENT = "response.official", "comment"
MEETING_PROPOSE, MEETING_RESPOND = "meeting.propose", "meeting.respond"
CHANNEL_OPEN, CHANNEL_MESSAGE = "channel.open", "channel.message"
MESSAGE = "message"
#: the negotiation's title, encrypted like every other content (the relay never sees it)
TITLE = "negotiation.title"

STANCES = ("accept", "reject", "counter", "take-note", "reserve")
MEETING_LEVELS = ("delegation", "ministerial", "leaders")
MEETING_ANSWERS = ("accept", "decline", "counter")
#: what a round can be explicitly linked to (besides what was posted while it was open)
ROUND_LINK_KINDS = ("memorandum", "meeting", "agreement")
#: event types whose author must act with head authority (checked by the relay on the header)
HEAD_ONLY = frozenset({RESPONSE})


# ---- the timeline a view is computed from ----------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    """One readable event: who (member, role, party id), when, and the decrypted body."""

    seq: int
    event_id: str
    created: str
    author: str
    role: str
    party: str
    authority: str
    audience: tuple[str, ...]
    type: str
    content: Mapping[str, Any]
    #: the author's device key id and its certified Ed25519 signing key (base64), for signed acts
    device: str = ""
    signing_key: str = ""

    @property
    def body(self) -> Body:
        """The typed content (``parley.protocol.bodies``), decoded once (or given by ``typed_entry``).

        Raises:
            InputError: the content does not match its type's declaration (or the type is unknown).
        """
        found = self.__dict__.get("_body")
        if found is None:
            found = self.__dict__["_body"] = decode_content(self.type, self.content)  # frozen: set once, here
        return found


def readable_body(e: Entry) -> Body | None:
    """``e``'s typed body, or None when its content does not match its declaration (a fold lists that one as a
    violation; a screen that lists acts leaves it out)."""
    try:
        return e.body
    except InputError:
        return None


def typed_entry(body: Body | None, **fields: Any) -> Entry:
    """An ``Entry`` whose typed body was decoded already (from the stored JSON: ``bodies.decode_stored``); None
    leaves it to be decoded from ``content`` when read (which raises for malformed content)."""
    entry = Entry(**fields)
    if body is not None:
        entry.__dict__["_body"] = body
    return entry


# ---- content validation (used before posting and again on every received event) ---------------------
def check_content(event_type: str, content: Any, *, issues: Mapping[str, IssueView] | None = None,
                  memoranda: Mapping[str, MemorandumView] | None = None,
                  meetings: Mapping[str, MeetingView] | None = None,
                  channels: Mapping[str, ChannelView] | None = None) -> Body:
    """Validate the content of a workflow event: its shape (from its declaration in
    ``parley.protocol.bodies``), then ``check_body``. Returns the typed body.

    Raises:
        InputError: the content is malformed or refers to something unknown; the message says what.
    """
    body = decode_content(event_type, content)
    check_body(event_type, body, issues=issues, memoranda=memoranda, meetings=meetings, channels=channels)
    return body


def check_body(event_type: str, c: Any, *, issues: Mapping[str, IssueView] | None = None,
               memoranda: Mapping[str, MemorandumView] | None = None,
               meetings: Mapping[str, MeetingView] | None = None,
               channels: Mapping[str, ChannelView] | None = None) -> None:
    """The checks of a typed workflow body that its declaration cannot state: across fields (an interval, the
    texts in several languages, a counter-proposal going with the answer 'counter') and against the current
    views when given (a known key issue, memorandum, meeting or channel).

    Raises:
        InputError: the message says what is wrong.
    """
    if event_type in (ISSUE_ADD, ISSUE_RENAME):
        if issues is not None:
            known = c.issue_id in issues
            if event_type == ISSUE_ADD and known:
                raise InputError(f"key issue '{c.issue_id}' already exists")
            if event_type == ISSUE_RENAME and not known:
                raise InputError(f"unknown key issue '{c.issue_id}'")
    elif event_type == ISSUE_CLOSE:
        if issues is not None and c.issue_id not in issues:
            raise InputError(f"unknown key issue '{c.issue_id}'")
    elif event_type == ROUND_OPEN:
        _interval(c.starts, c.ends, "starts", "ends", optional_end=True, what="round")
        # meeting_id is not checked against the meetings view: a meeting proposed to some parties only is unknown
        # to the others, whose clients must still accept the round (the poster's client checks it exists).
        unknown = [i for i in c.agenda if issues is not None and i not in issues]
        if unknown:
            raise InputError(f"the round's agenda names an unknown key issue '{unknown[0]}'")
    elif event_type in (MEMO_DRAFT, MEMO_DELIVER):
        for issue_id in c.positions:
            if issues is not None and issue_id not in issues:
                raise InputError(f"unknown key issue '{issue_id}'", hint=_known_issues(issues))
        if c.respond_by is not None:
            parse_time(c.respond_by, what="respond_by")
        check_languages(c, parallel="positions")
    elif event_type == RESPONSE:
        if memoranda is not None and c.memo_id not in memoranda:
            raise InputError(f"no memorandum '{c.memo_id}' to respond to")
        for issue_id, stance in c.stances.items():
            if stance.stance == "counter" and (not isinstance(stance.text, str) or not stance.text.strip()):
                raise InputError("'text' must be non-empty text")
            if memoranda is not None and issue_id not in memoranda[c.memo_id].positions:
                raise InputError(f"memorandum '{c.memo_id}' takes no position on '{issue_id}'")
    elif event_type == MEETING_PROPOSE:
        _check_terms(c.venue, c.start, c.end, c.timezone, what="meeting", timezone_optional=False)
        if c.answer_by is not None and parse_time(c.answer_by, what="answer_by") > parse_time(c.start):
            raise InputError("the answer_by deadline falls after the meeting starts")
        if issues is not None and any(i not in issues for i in c.agenda):
            raise InputError("the meeting agenda names an unknown key issue")
    elif event_type == MEETING_RESPOND:
        if meetings is not None and c.meeting_id not in meetings:
            raise InputError(f"no meeting '{c.meeting_id}' to answer")
        if c.answer == "counter":
            if c.counter is None:
                raise InputError("a counter-proposal gives venue, start and end")
            terms = c.counter
            _check_terms(terms.venue, terms.start, terms.end, terms.timezone, what="counter-proposal",
                         timezone_optional=True)
        elif c.counter is not None:
            raise InputError(f"a counter-proposal's venue and times go with the answer 'counter', "
                             f"not '{c.answer}'")
    elif event_type == CHANNEL_OPEN:
        if channels is not None and c.channel_id in channels:
            raise InputError("that channel exists already")
    elif event_type == CHANNEL_MESSAGE:
        if channels is not None and c.channel_id not in channels:
            raise InputError(f"no channel '{c.channel_id}'")


def _known_issues(issues: Mapping[str, IssueView]) -> str:
    if not issues:
        return "the agenda has no key issues yet: add one first (issue add)"
    return "key issues on the agenda: " + ", ".join(sorted(issues))


def check_meeting_terms(terms: Mapping[str, Any], *, what: str = "meeting",
                        timezone_optional: bool = False) -> None:
    """The one check of a meeting's venue, start, end and venue time zone, for a proposal and for a
    counter-proposal alike (the CLI, the web UI and every received event go through it).

    ``timezone_optional`` admits counter-proposals written before they carried a time zone (read as UTC).

    Raises:
        InputError: no venue, a malformed time, an end not after the start, an unknown IANA time zone.
    """
    if not isinstance(terms.get("venue"), str) or not terms["venue"].strip():
        raise InputError(f"a {what} needs a venue")
    _check_terms(terms["venue"], terms.get("start"), terms.get("end"), terms.get("timezone"), what=what,
                 timezone_optional=timezone_optional)


def _check_terms(venue: str, start: object, end: object, timezone: object, *, what: str,
                 timezone_optional: bool) -> None:
    if len(venue) > 300:
        raise InputError("'venue' is over 300 characters")
    _interval(start, end, "start", "end", what=what)
    if timezone is None and timezone_optional:
        return
    check_timezone(timezone)


def check_timezone(name: object) -> str:
    """An IANA time zone name (``Europe/Istanbul``, ``UTC``).

    Raises:
        InputError: not a time zone the IANA database knows.
    """
    if not isinstance(name, str) or not name.strip() or len(name) > 64:
        raise InputError("the venue's time zone must be an IANA name such as Europe/Istanbul")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(f"unknown time zone '{name}' (use an IANA name such as Europe/Istanbul)") from None
    return name


def meeting_terms(*, venue: str, start: datetime | str, end: datetime | str, timezone: str = "UTC",
                  what: str = "meeting") -> dict[str, str]:
    """The venue, start, end and time zone of a meeting or counter-proposal, in the signed form, checked.

    Raises:
        InputError: see ``check_meeting_terms``.
    """
    terms = {"venue": venue, "start": format_time(start) if isinstance(start, datetime) else start,
             "end": format_time(end) if isinstance(end, datetime) else end, "timezone": timezone}
    check_meeting_terms(terms, what=what)
    return terms


def _interval(start_value: object, end_value: object, start_key: str, end_key: str, *, optional_end: bool = False,
              what: str = "meeting") -> None:
    start = parse_time(start_value, what=start_key)
    if optional_end and end_value is None:
        return
    end = parse_time(end_value, what=end_key)
    if end <= start:
        raise InputError(f"'{end_key}' must be after '{start_key}' (a {what} that ends before it starts)")


#: the deadline fields of each event type: set by the asking party, never before the event itself
_DEADLINES = {MEMO_DELIVER: ("respond_by",), MEETING_PROPOSE: ("answer_by",)}


# ---- derived views ----------------------------------------------------------------------------------
@dataclass
class Views:
    """Every workflow view of one member's timeline (the records are declared in ``parley.protocol.views``)."""

    issues: dict[str, IssueView] = field(default_factory=dict)
    rounds: dict[str, RoundView] = field(default_factory=dict)
    #: memo id -> its party's drafts, version 1 first
    drafts: dict[str, list[DraftView]] = field(default_factory=dict)
    memoranda: dict[str, MemorandumView] = field(default_factory=dict)
    meetings: dict[str, MeetingView] = field(default_factory=dict)
    channels: dict[str, ChannelView] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    #: the latest title, or None
    title: TitleView | None = None


def derive_views(entries: Iterable[Entry], party_names: Mapping[str, str], convener: str | None = None) -> Views:
    """Fold a timeline (ordered by seq) into every workflow view.

    ``convener`` is the party that opened the negotiation (its genesis): it chairs the agenda.
    Invalid events (bad content, a non-head's "official" response, a member running another
    party's agenda) are skipped and listed in ``violations``: the log stays verifiable, the view
    stays sane.
    """
    views = Views()
    for entry in sorted(entries, key=lambda e: e.seq):
        try:
            _apply(views, entry, convener)
        except (InputError, ProtocolError) as exc:
            views.violations.append(f"event {entry.seq} ({entry.type}) by {entry.author}: {exc.message}")
    return views


def check_agenda_right(event_type: str, party: str, role: str, issue: IssueView | None,
                       convener: str | None) -> None:
    """Who may run the agenda: the one rule every client applies before posting and on every event.

    - any member of a party in the negotiation, except observers, may open a key issue;
    - only the convening party (the chair) and the party that opened an issue may rename or close it,
      and not through an observer.

    Raises:
        ProtocolError: the author's party or role may not do this (names the rule).
    """
    if role == "observer":
        raise ProtocolError("an observer cannot change the agenda")
    if event_type in (ISSUE_RENAME, ISSUE_CLOSE) and issue is not None:
        if party not in (convener, issue.added_by):
            what = "rename" if event_type == ISSUE_RENAME else "close"
            raise ProtocolError(f"only the convening party or the party that opened a key issue may {what} it")


#: what a round holds when posted while it is open: event type -> (kind, content key of the reference)
_HELD_BY_ROUNDS = {MEMO_DELIVER: ("memorandum", "memo_id"), RESPONSE: ("response", "memo_id"),
                   MEETING_PROPOSE: ("meeting", "meeting_id"), MEETING_RESPOND: ("meeting answer", "meeting_id")}


def _apply(views: Views, e: Entry, convener: str | None = None) -> None:
    _apply_content(views, e, convener)
    held = _HELD_BY_ROUNDS.get(e.type)
    if held is not None:
        kind, key = held
        version = e.body.version if e.type == MEMO_DELIVER else None
        for round_ in views.rounds.values():
            if round_.status == "open":
                round_.held.append(HeldItem(kind=kind, ref=getattr(e.body, key), party=e.party, at=e.created,
                                            seq=e.seq, how="posted", version=version))


def _apply_content(views: Views, e: Entry, convener: str | None = None) -> None:
    c: Any = e.body
    check_body(e.type, c, issues=views.issues if e.type not in (ISSUE_ADD,) else None,
               memoranda=views.memoranda, meetings=views.meetings, channels=views.channels)
    for key in _DEADLINES.get(e.type, ()):
        check_deadline(getattr(c, key), now=parse_time(e.created), what=f"{key} deadline")
    if e.type in AGENDA_TYPES:
        check_agenda_right(e.type, e.party, e.role, views.issues.get(c.issue_id), convener)
    if e.type == ISSUE_ADD:
        if c.issue_id in views.issues:
            raise InputError("key issue exists already")
        views.issues[c.issue_id] = IssueView(title=c.title, added_by=e.party, since=e.created)
    elif e.type == ISSUE_RENAME:
        views.issues[c.issue_id].title = c.title
    elif e.type == ISSUE_CLOSE:
        views.issues[c.issue_id].status = "closed"
    elif e.type == ROUND_OPEN:
        if c.round_id in views.rounds:
            raise InputError(f"round '{c.round_id}' exists already")
        if any(r.number == c.number for r in views.rounds.values()):
            raise InputError(f"a round number {c.number} exists already")
        views.rounds[c.round_id] = RoundView(
            round_id=c.round_id, number=c.number, venue=c.venue, starts=c.starts, ends=c.ends,
            meeting_id=c.meeting_id, agenda=list(c.agenda), opened_by=e.party, opened_at=e.created, opened_seq=e.seq)
    elif e.type == ROUND_CLOSE:
        round_ = views.rounds.get(c.round_id)
        if round_ is None:
            raise InputError("unknown round")
        if round_.status == "closed":
            raise InputError(f"round '{c.round_id}' is closed already")
        round_.outcome, round_.status = c.outcome, "closed"
        round_.closed_by, round_.closed_at, round_.closed_seq = e.party, e.created, e.seq
    elif e.type == ROUND_LINK:
        round_ = views.rounds.get(c.round_id)
        if round_ is None:
            raise InputError("a link to an unknown round")
        round_.held.append(HeldItem(kind=c.kind, ref=c.ref, party=e.party, at=e.created, seq=e.seq, how="linked"))
    elif e.type == MEMO_DRAFT:
        if set(e.audience) != {e.party}:
            raise InputError("a draft is readable by its own party only (this one was addressed to others)")
        delivered = views.memoranda.get(c.memo_id)
        if delivered is not None and delivered.party != e.party:
            raise InputError("a draft under another party's memorandum id")
        drafts = views.drafts.setdefault(c.memo_id, [])
        if drafts and drafts[0].party != e.party:
            raise InputError("a draft under another party's draft id")
        if c.version != len(drafts) + 1:
            raise InputError("draft versions are numbered one after another")
        drafts.append(DraftView(version=c.version, title=c.title, positions=dict(c.positions), at=e.created,
                                party=e.party, by=e.author, event_id=e.event_id, attachments=list(c.attachments)))
    elif e.type == MEMO_DELIVER:
        memo = views.memoranda.get(c.memo_id)
        if memo is not None and memo.party != e.party:
            raise InputError("another party's memorandum id")
        recipients = [p for p in e.audience if p != e.party]
        # Lineage, seen only by the author's party (the others cannot read its drafts): the draft version this
        # delivery was made from, i.e. the latest draft under the same id at the time.
        drafts = [d for d in views.drafts.get(c.memo_id, []) if d.party == e.party]
        from_draft = drafts[-1].version if drafts else None
        delivered = {"title": c.title, "positions": dict(c.positions), "version": c.version,
                     "delivered_at": e.created, "delivered_to": recipients, "respond_by": c.respond_by,
                     "event_id": e.event_id, "attachments": list(c.attachments), "copy": c.copy,
                     "from_draft": from_draft, "languages": list(c.languages or [DEFAULT_LANGUAGE]),
                     "prevailing": c.prevailing, "texts": texts_by_language(c, ("title", "positions"))}
        # a new version replaces the delivered fields and keeps the history (versions, receipts, responses...)
        memo = views.memoranda[c.memo_id] = (MemorandumView(memo_id=c.memo_id, party=e.party, **delivered)
                                             if memo is None else msgspec.structs.replace(memo, **delivered))
        if c.restricted:
            # Head-only sections travel inside the heads' copies of the delivery (one event, one act).
            memo.restricted = dict(c.restricted)
        memo.versions.append(MemoVersion(version=c.version, positions=dict(c.positions), at=e.created,
                                         title=c.title, from_draft=from_draft))
    elif e.type == MEMO_RESTRICTED:
        memo = views.memoranda.get(c.memo_id)
        if memo is None or memo.party != e.party:
            raise InputError("restricted sections for an unknown memorandum")
        memo.restricted = dict(c.sections)
    elif e.type == RECEIPT:
        memo = views.memoranda.get(c.memo_id)
        if memo is None:
            raise InputError("receipt for an unknown memorandum")
        if e.party not in memo.receipts:
            memo.receipts[e.party] = ReceiptView(at=e.created, by=e.author, event_id=c.event_id)
    elif e.type == RESPONSE:
        if e.authority != "head" or e.role != "head":
            raise InputError("an official response must come from a head of delegation")
        memo = views.memoranda[c.memo_id]
        if e.party == memo.party:
            raise InputError("a party cannot officially respond to its own memorandum")
        history = memo.response_history.setdefault(e.party, [])
        response = ResponseView(at=e.created, by=e.author, stances=dict(c.stances), covering_text=c.covering_text,
                                version=memo.version, number=len(history) + 1,
                                replaces=history[-1].at if history else None, seq=e.seq,
                                attachments=list(c.attachments))
        history.append(response)
        memo.responses[e.party] = response
    elif e.type == COMMENT:
        for memo in views.memoranda.values():
            if c.ref in (memo.memo_id, memo.event_id):
                memo.comments.append(CommentView(at=e.created, by=e.author, party=e.party, text=c.text))
    elif e.type == MEETING_PROPOSE:
        views.meetings[c.meeting_id] = MeetingView(
            meeting_id=c.meeting_id, proposed_by=e.party, venue=c.venue, start=c.start, end=c.end,
            timezone=c.timezone, level=c.level, agenda=list(c.agenda), participants=list(c.participants),
            invited=[p for p in e.audience if p != e.party], proposed_at=e.created, answer_by=c.answer_by,
            changed_at=e.created, attachments=list(c.attachments))
    elif e.type == MEETING_RESPOND:
        meeting = views.meetings[c.meeting_id]
        meeting.answers[e.party] = MeetingAnswerView(answer=c.answer, at=e.created, by=e.author,
                                                     counter=c.counter, note=c.note)
        meeting.revision += 1
        meeting.changed_at = e.created
        if meeting_status(meeting) == "accepted":
            meeting.was_accepted = True
    elif e.type == CHANNEL_OPEN:
        views.channels[c.channel_id] = ChannelView(channel_id=c.channel_id, name=c.name, parties=list(e.audience),
                                                   opened_by=e.party)
    elif e.type == TITLE:
        views.title = TitleView(title=c.title, party=e.party, at=e.created, audience=list(e.audience))
    elif e.type == CHANNEL_MESSAGE:
        channel = views.channels[c.channel_id]
        channel.messages.append(ChannelMessageView(seq=e.seq, at=e.created, by=e.author, party=e.party, text=c.text,
                                                   attachments=list(c.attachments)))


def meeting_status(meeting: MeetingView) -> str:
    """``accepted`` (by every invited party), ``declined`` or ``countered`` (by one), or ``awaiting answer``."""
    answers = [a.answer for p, a in meeting.answers.items() if p in meeting.invited]
    if any(a == "decline" for a in answers):
        return "declined"
    if any(a == "counter" for a in answers):
        return "countered"
    if meeting.invited and len(answers) == len(meeting.invited) and all(a == "accept" for a in answers):
        return "accepted"
    return "awaiting answer"


def awaiting_responses(views: Views, now: datetime) -> list[dict[str, Any]]:
    """Memoranda that await an official response, per awaited party, with age and overdue flag."""
    out = []
    for memo in views.memoranda.values():
        for party in memo.delivered_to:
            response = memo.responses.get(party)
            if response is not None and response.version == memo.version:
                continue
            since = parse_time(memo.delivered_at)
            respond_by = memo.respond_by
            out.append({"memo_id": memo.memo_id, "title": memo.title, "from": memo.party,
                        "awaiting": party, "since": memo.delivered_at,
                        "age_hours": round((now - since).total_seconds() / 3600, 1),
                        "respond_by": respond_by,
                        "overdue": bool(respond_by and now > parse_time(respond_by)),
                        "received": party in memo.receipts})
    return sorted(out, key=lambda r: (r["since"], r["memo_id"], r["awaiting"]))


def issue_status(views: Views, issue_id: str) -> str:
    """The one status of a key issue that every output shows: ``closed``, ``agreed`` or ``open``.

    An issue is *agreed* when the latest memorandum that takes a position on it was
    accepted on that issue by every party it was delivered to (in each one's latest response).
    """
    if views.issues[issue_id].status == "closed":
        return "closed"
    latest_memo = None
    for memo in sorted(views.memoranda.values(), key=lambda m: m.delivered_at):
        if issue_id in memo.positions:
            latest_memo = memo
    agreed = latest_memo is not None and bool(latest_memo.delivered_to) and all(
        _stance(latest_memo.responses.get(p), issue_id) == "accept" for p in latest_memo.delivered_to)
    return "agreed" if agreed else "open"


def _stance(response: ResponseView | None, issue_id: str) -> str | None:
    stance = None if response is None else response.stances.get(issue_id)
    return None if stance is None else stance.stance


def positions_matrix(views: Views, parties: Iterable[str], language: str | None = None) -> dict[str, Any]:
    """Issue x party: each party's latest position and its latest official stance; the issue's status
    (``issue_status``). With ``language``, positions are read in that language where the memorandum has a
    text in it (each cell says which language it shows).
    """
    parties = list(parties)
    rows = []
    for issue_id, issue in views.issues.items():
        cells: dict[str, dict[str, Any]] = {p: {"position": None, "stance": None} for p in parties}
        for memo in sorted(views.memoranda.values(), key=lambda m: m.delivered_at):
            if issue_id in memo.positions:
                cell = cells.setdefault(memo.party, {"position": None, "stance": None})
                first = memo.languages[0]
                shown = language if language in memo.texts else first
                cell["position"] = (memo.positions[issue_id] if shown == first
                                    else memo.texts[shown]["positions"][issue_id])
                cell["language"] = shown
            for party, response in memo.responses.items():
                if issue_id in response.stances:
                    cells.setdefault(party, {"position": None, "stance": None})["stance"] = plain(response.stances[issue_id])
        rows.append({"issue_id": issue_id, "title": issue.title, "status": issue_status(views, issue_id),
                     "cells": cells})
    return {"parties": parties, "issues": rows, "language": language,
            "languages": sorted({code for m in views.memoranda.values() for code in m.languages})}


def redline(old: Mapping[str, str], new: Mapping[str, str]) -> str:
    """A unified diff between two versions of per-issue texts."""
    lines = []
    for issue_id in sorted(set(old) | set(new)):
        before = old.get(issue_id, "").splitlines(keepends=False)
        after = new.get(issue_id, "").splitlines(keepends=False)
        if before == after:
            continue
        lines.extend(difflib.unified_diff(before, after, fromfile=f"{issue_id} (before)", tofile=f"{issue_id} (after)",
                                          lineterm=""))
    return "\n".join(lines)


def memo_texts(views: Views, memo_id: str) -> dict[str, dict[str, Any]]:
    """Every version of a memorandum this member can read, by label: ``"1"``, ``"2"`` for delivered versions,
    ``"d1"``, ``"d2"`` for its party's drafts under the same id. Each: title, positions, at, and for a delivered
    version the draft it came from (``from_draft``, known to the author's party only)."""
    texts: dict[str, dict[str, Any]] = {}
    for draft in views.drafts.get(memo_id, []):
        texts[f"d{draft.version}"] = {"kind": "draft", **plain(draft)}
    memo = views.memoranda.get(memo_id)
    for version in [] if memo is None else memo.versions:
        texts[str(version.version)] = {"kind": "delivered", **plain(version)}
    return texts


def version_label(value: object, views: Views, memo_id: str) -> str:
    """``3`` or ``"3"`` (a delivered version; a draft version when nothing was delivered under the id yet, as the
    redline always read it), ``"d3"`` or ``"draft3"`` (a draft version).

    Raises:
        InputError: neither form.
    """
    text = str(value).strip().lower().replace("draft", "d").replace("-", "")
    number = text[1:] if text.startswith("d") else text
    if not number.isdigit():
        raise InputError(f"a version is a number (delivered) or d + a number (draft), not '{value}'")
    if text.startswith("d") or memo_id not in views.memoranda:
        return f"d{int(number)}"
    return str(int(number))


def calendar(views: Views) -> list[dict[str, Any]]:
    """Every meeting in its plain form with its ``status``, by start time."""
    return sorted(({**plain(m), "status": meeting_status(m)} for m in views.meetings.values()),
                  key=lambda m: m["start"])


__all__ = ["Entry", "Views", "readable_body", "typed_entry", "awaiting_responses", "calendar", "check_agenda_right", "check_body", "check_content",
           "check_meeting_terms", "check_timezone", "derive_views", "format_time", "issue_status", "meeting_status",
           "meeting_terms", "memo_texts", "positions_matrix", "redline", "version_label"]
