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

from parley.errors import InputError
from parley.protocol.times import format_time, parse_time

ISSUE_ADD, ISSUE_RENAME, ISSUE_CLOSE = "agenda.issue.add", "agenda.issue.rename", "agenda.issue.close"
ROUND_OPEN, ROUND_CLOSE = "round.open", "round.close"
MEMO_DRAFT, MEMO_DELIVER, MEMO_RESTRICTED = "memorandum.draft", "memorandum.deliver", "memorandum.restricted"
RECEIPT = "receipt"
RESPONSE, COMMENT = "response.official", "comment"
MEETING_PROPOSE, MEETING_RESPOND = "meeting.propose", "meeting.respond"
CHANNEL_OPEN, CHANNEL_MESSAGE = "channel.open", "channel.message"
MESSAGE = "message"

STANCES = ("accept", "reject", "counter", "take-note", "reserve")
MEETING_LEVELS = ("delegation", "ministerial", "leaders")
MEETING_ANSWERS = ("accept", "decline", "counter")
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


# ---- content validation (used before posting and again on every received event) ---------------------
def _text(content: Mapping[str, Any], key: str, *, max_len: int = 1_000_000, optional: bool = False) -> str | None:
    value = content.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"'{key}' must be non-empty text")
    if len(value) > max_len:
        raise InputError(f"'{key}' is over {max_len} characters")
    return value


def _ident(content: Mapping[str, Any], key: str) -> str:
    value = content.get(key)
    if not isinstance(value, str) or not 1 <= len(value) <= 64 or not all(c.isalnum() or c in "-_." for c in value):
        raise InputError(f"'{key}' must be an identifier (letters, digits, - _ .)")
    return value


def check_content(event_type: str, content: Any, *, issues: Mapping[str, Any] | None = None,
                  memoranda: Mapping[str, Any] | None = None, meetings: Mapping[str, Any] | None = None,
                  channels: Mapping[str, Any] | None = None) -> None:
    """Validate the content of a workflow event against the current views (when given).

    Raises:
        InputError: the content is malformed or refers to something unknown; the message says what.
    """
    if not isinstance(content, Mapping):
        raise InputError("event content must be an object")
    if event_type in (ISSUE_ADD, ISSUE_RENAME):
        _ident(content, "issue_id")
        _text(content, "title", max_len=300)
        if issues is not None:
            known = content["issue_id"] in issues
            if event_type == ISSUE_ADD and known:
                raise InputError(f"key issue '{content['issue_id']}' already exists")
            if event_type == ISSUE_RENAME and not known:
                raise InputError(f"unknown key issue '{content['issue_id']}'")
    elif event_type == ISSUE_CLOSE:
        _ident(content, "issue_id")
        if issues is not None and content["issue_id"] not in issues:
            raise InputError(f"unknown key issue '{content['issue_id']}'")
    elif event_type == ROUND_OPEN:
        _ident(content, "round_id")
        if not isinstance(content.get("number"), int) or content["number"] < 1:
            raise InputError("a round has a number from 1")
        _text(content, "venue", max_len=300)
        _interval(content, "starts", "ends", optional_end=True)
    elif event_type == ROUND_CLOSE:
        _ident(content, "round_id")
        _text(content, "outcome", max_len=20_000)
    elif event_type in (MEMO_DRAFT, MEMO_DELIVER):
        _ident(content, "memo_id")
        _text(content, "title", max_len=300)
        if not isinstance(content.get("version"), int) or content["version"] < 1:
            raise InputError("a memorandum version is a number from 1")
        positions = content.get("positions")
        if not isinstance(positions, Mapping) or not positions:
            raise InputError("a memorandum needs at least one position on a key issue (it is empty)")
        for issue_id, text in positions.items():
            if issues is not None and issue_id not in issues:
                raise InputError(f"unknown key issue '{issue_id}'")
            if not isinstance(text, str) or not text.strip():
                raise InputError(f"the position on '{issue_id}' is empty")
        if content.get("respond_by") is not None:
            parse_time(content["respond_by"], what="respond_by")
        if content.get("copy") is not None and not isinstance(content["copy"], str):
            raise InputError("the visible copy line must be text")
        attachments = content.get("attachments", [])
        if not isinstance(attachments, list):
            raise InputError("attachments must be a list")
    elif event_type == MEMO_RESTRICTED:
        _ident(content, "memo_id")
        sections = content.get("sections")
        if not isinstance(sections, Mapping) or not sections or not all(
                isinstance(v, str) and v.strip() for v in sections.values()):
            raise InputError("restricted sections must map key issues to text")
    elif event_type == RECEIPT:
        _ident(content, "memo_id")
        if not isinstance(content.get("event_id"), str):
            raise InputError("a receipt names the event it acknowledges")
    elif event_type == RESPONSE:
        memo_id = _ident(content, "memo_id")
        if memoranda is not None and memo_id not in memoranda:
            raise InputError(f"no memorandum '{memo_id}' to respond to")
        stances = content.get("stances")
        if not isinstance(stances, Mapping) or not stances:
            raise InputError("an official response gives a stance on at least one key issue")
        for issue_id, stance in stances.items():
            if not isinstance(stance, Mapping) or stance.get("stance") not in STANCES:
                raise InputError(f"the stance on '{issue_id}' must be one of {', '.join(STANCES)}")
            if stance["stance"] == "counter":
                _text(stance, "text")
            if memoranda is not None and issue_id not in memoranda[memo_id]["positions"]:
                raise InputError(f"memorandum '{memo_id}' takes no position on '{issue_id}'")
        _text(content, "covering_text", optional=True)
    elif event_type == COMMENT:
        _text(content, "ref", max_len=100)
        _text(content, "text")
    elif event_type == MEETING_PROPOSE:
        _ident(content, "meeting_id")
        _text(content, "venue", max_len=300)
        _interval(content, "start", "end")
        _text(content, "timezone", max_len=64)
        if content.get("level") not in MEETING_LEVELS:
            raise InputError(f"meeting level must be one of {', '.join(MEETING_LEVELS)}")
        agenda = content.get("agenda", [])
        if not isinstance(agenda, list) or (issues is not None and any(i not in issues for i in agenda)):
            raise InputError("the meeting agenda names an unknown key issue")
    elif event_type == MEETING_RESPOND:
        meeting_id = _ident(content, "meeting_id")
        if meetings is not None and meeting_id not in meetings:
            raise InputError(f"no meeting '{meeting_id}' to answer")
        if content.get("answer") not in MEETING_ANSWERS:
            raise InputError(f"a meeting answer is one of {', '.join(MEETING_ANSWERS)}")
        if content["answer"] == "counter":
            counter = content.get("counter")
            if not isinstance(counter, Mapping):
                raise InputError("a counter-proposal gives venue, start and end")
            _text(counter, "venue", max_len=300)
            _interval(counter, "start", "end")
    elif event_type == CHANNEL_OPEN:
        _ident(content, "channel_id")
        _text(content, "name", max_len=200)
        if channels is not None and content["channel_id"] in channels:
            raise InputError("that channel exists already")
    elif event_type == CHANNEL_MESSAGE:
        channel_id = _ident(content, "channel_id")
        if channels is not None and channel_id not in channels:
            raise InputError(f"no channel '{channel_id}'")
        _text(content, "text")
    elif event_type == MESSAGE:
        _text(content, "text")
    else:
        raise InputError(f"unknown event type '{event_type}'")


def _interval(content: Mapping[str, Any], start_key: str, end_key: str, *, optional_end: bool = False) -> None:
    start = parse_time(content.get(start_key), what=start_key)
    if optional_end and content.get(end_key) is None:
        return
    end = parse_time(content.get(end_key), what=end_key)
    if end <= start:
        raise InputError(f"'{end_key}' must be after '{start_key}' (a meeting that ends before it starts)")


# ---- derived views ----------------------------------------------------------------------------------
@dataclass
class Views:
    issues: dict[str, dict[str, Any]] = field(default_factory=dict)
    rounds: dict[str, dict[str, Any]] = field(default_factory=dict)
    drafts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    memoranda: dict[str, dict[str, Any]] = field(default_factory=dict)
    meetings: dict[str, dict[str, Any]] = field(default_factory=dict)
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)


def derive_views(entries: Iterable[Entry], party_names: Mapping[str, str]) -> Views:
    """Fold a timeline (ordered by seq) into every workflow view.

    Invalid events (bad content, a non-head's "official" response) are skipped and
    listed in ``violations``: the log stays verifiable, the view stays sane.
    """
    views = Views()
    for entry in sorted(entries, key=lambda e: e.seq):
        try:
            _apply(views, entry)
        except InputError as exc:
            views.violations.append(f"event {entry.seq} ({entry.type}) by {entry.author}: {exc.message}")
    return views


def _apply(views: Views, e: Entry) -> None:
    c = e.content
    check_content(e.type, c, issues=views.issues if e.type not in (ISSUE_ADD,) else None,
                  memoranda=views.memoranda, meetings=views.meetings, channels=views.channels)
    if e.type == ISSUE_ADD:
        if c["issue_id"] in views.issues:
            raise InputError("key issue exists already")
        views.issues[c["issue_id"]] = {"title": c["title"], "status": "open", "added_by": e.party, "since": e.created}
    elif e.type == ISSUE_RENAME:
        views.issues[c["issue_id"]]["title"] = c["title"]
    elif e.type == ISSUE_CLOSE:
        views.issues[c["issue_id"]]["status"] = "closed"
    elif e.type == ROUND_OPEN:
        views.rounds[c["round_id"]] = {"number": c["number"], "venue": c["venue"], "starts": c["starts"],
                                       "ends": c.get("ends"), "outcome": None, "status": "open"}
    elif e.type == ROUND_CLOSE:
        if c["round_id"] not in views.rounds:
            raise InputError("unknown round")
        views.rounds[c["round_id"]].update(outcome=c["outcome"], status="closed")
    elif e.type == MEMO_DRAFT:
        views.drafts.setdefault(c["memo_id"], []).append({"version": c["version"], "title": c["title"],
                                                          "positions": dict(c["positions"]), "at": e.created,
                                                          "party": e.party})
    elif e.type == MEMO_DELIVER:
        memo = views.memoranda.get(c["memo_id"])
        if memo is not None and memo["party"] != e.party:
            raise InputError("another party's memorandum id")
        recipients = [p for p in e.audience if p != e.party]
        if memo is None:
            memo = views.memoranda[c["memo_id"]] = {
                "memo_id": c["memo_id"], "party": e.party, "versions": [], "receipts": {}, "responses": {},
                "restricted": {}, "comments": []}
        memo.update(title=c["title"], positions=dict(c["positions"]), version=c["version"], delivered_at=e.created,
                    delivered_to=recipients, respond_by=c.get("respond_by"), event_id=e.event_id,
                    attachments=list(c.get("attachments", [])), copy=c.get("copy"))
        memo["versions"].append({"version": c["version"], "positions": dict(c["positions"]), "at": e.created})
    elif e.type == MEMO_RESTRICTED:
        memo = views.memoranda.get(c["memo_id"])
        if memo is None or memo["party"] != e.party:
            raise InputError("restricted sections for an unknown memorandum")
        memo["restricted"] = dict(c["sections"])
    elif e.type == RECEIPT:
        memo = views.memoranda.get(c["memo_id"])
        if memo is None:
            raise InputError("receipt for an unknown memorandum")
        memo["receipts"].setdefault(e.party, {"at": e.created, "by": e.author, "event_id": c["event_id"]})
    elif e.type == RESPONSE:
        if e.authority != "head" or e.role != "head":
            raise InputError("an official response must come from a head of delegation")
        memo = views.memoranda[c["memo_id"]]
        if e.party == memo["party"]:
            raise InputError("a party cannot officially respond to its own memorandum")
        memo["responses"][e.party] = {"at": e.created, "by": e.author, "stances": dict(c["stances"]),
                                      "covering_text": c.get("covering_text"), "version": memo["version"]}
    elif e.type == COMMENT:
        for memo in views.memoranda.values():
            if c["ref"] in (memo["memo_id"], memo.get("event_id")):
                memo["comments"].append({"at": e.created, "by": e.author, "party": e.party, "text": c["text"]})
    elif e.type == MEETING_PROPOSE:
        views.meetings[c["meeting_id"]] = {
            "meeting_id": c["meeting_id"], "proposed_by": e.party, "venue": c["venue"], "start": c["start"],
            "end": c["end"], "timezone": c["timezone"], "level": c["level"], "agenda": list(c.get("agenda", [])),
            "participants": list(c.get("participants", [])), "invited": [p for p in e.audience if p != e.party],
            "answers": {}, "proposed_at": e.created}
    elif e.type == MEETING_RESPOND:
        meeting = views.meetings[c["meeting_id"]]
        meeting["answers"][e.party] = {"answer": c["answer"], "at": e.created, "by": e.author,
                                       "counter": c.get("counter"), "note": c.get("note")}
    elif e.type == CHANNEL_OPEN:
        views.channels[c["channel_id"]] = {"channel_id": c["channel_id"], "name": c["name"],
                                           "parties": list(e.audience), "opened_by": e.party, "messages": []}
    elif e.type == CHANNEL_MESSAGE:
        channel = views.channels[c["channel_id"]]
        channel["messages"].append({"seq": e.seq, "at": e.created, "by": e.author, "party": e.party, "text": c["text"]})


def meeting_status(meeting: Mapping[str, Any]) -> str:
    answers = [a["answer"] for p, a in meeting["answers"].items() if p in meeting["invited"]]
    if any(a == "decline" for a in answers):
        return "declined"
    if any(a == "counter" for a in answers):
        return "countered"
    if meeting["invited"] and len(answers) == len(meeting["invited"]) and all(a == "accept" for a in answers):
        return "accepted"
    return "awaiting answer"


def awaiting_responses(views: Views, now: datetime) -> list[dict[str, Any]]:
    """Memoranda that await an official response, per awaited party, with age and overdue flag."""
    out = []
    for memo in views.memoranda.values():
        for party in memo["delivered_to"]:
            response = memo["responses"].get(party)
            if response is not None and response["version"] == memo["version"]:
                continue
            since = parse_time(memo["delivered_at"])
            respond_by = memo.get("respond_by")
            out.append({"memo_id": memo["memo_id"], "title": memo["title"], "from": memo["party"],
                        "awaiting": party, "since": memo["delivered_at"],
                        "age_hours": round((now - since).total_seconds() / 3600, 1),
                        "respond_by": respond_by,
                        "overdue": bool(respond_by and now > parse_time(respond_by)),
                        "received": party in memo["receipts"]})
    return sorted(out, key=lambda r: (r["since"], r["memo_id"], r["awaiting"]))


def positions_matrix(views: Views, parties: Iterable[str]) -> dict[str, Any]:
    """Issue x party: each party's latest position and its latest official stance; agreed or open.

    An issue is *agreed* when the latest memorandum that takes a position on it was
    accepted on that issue by every party it was delivered to.
    """
    parties = list(parties)
    rows = []
    for issue_id, issue in views.issues.items():
        cells: dict[str, dict[str, Any]] = {p: {"position": None, "stance": None} for p in parties}
        latest_memo = None
        for memo in sorted(views.memoranda.values(), key=lambda m: m["delivered_at"]):
            if issue_id in memo["positions"]:
                cells.setdefault(memo["party"], {"position": None, "stance": None})["position"] = memo["positions"][issue_id]
                latest_memo = memo
            for party, response in memo["responses"].items():
                if issue_id in response["stances"]:
                    cells.setdefault(party, {"position": None, "stance": None})["stance"] = response["stances"][issue_id]
        agreed = bool(latest_memo) and all(
            latest_memo["responses"].get(p, {}).get("stances", {}).get(issue_id, {}).get("stance") == "accept"
            for p in latest_memo["delivered_to"]) and bool(latest_memo["delivered_to"])
        rows.append({"issue_id": issue_id, "title": issue["title"], "status": "agreed" if agreed else "open",
                     "cells": cells})
    return {"parties": parties, "issues": rows}


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


def calendar(views: Views) -> list[dict[str, Any]]:
    return sorted(({**m, "status": meeting_status(m)} for m in views.meetings.values()), key=lambda m: m["start"])


__all__ = ["Entry", "Views", "awaiting_responses", "calendar", "check_content", "derive_views", "format_time",
           "meeting_status", "positions_matrix", "redline"]
