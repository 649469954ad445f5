"""Rounds of talks: what each round holds, with names and titles, and which round is current.

A round has a number, dates, a venue (text, and optionally the meeting it is held at), an agenda of key issues
and, once closed, an outcome. It holds what happened in it: every memorandum version delivered, official
response given, meeting proposed or answered while it was open (folded in ``workflow.derive_views``), every
version of an agreement text posted while it was open (by log position), and whatever a member linked to it
explicitly (``round.link``). Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from parley.protocol.views import RoundView, plain
from parley.protocol.workflow import Views


def _in_round(round_: RoundView, seq: int) -> bool:
    closed = round_.closed_seq
    return seq > round_.opened_seq and (closed is None or seq < closed)


def round_record(views: Views, agreements: Mapping[str, Any], round_id: str) -> dict[str, Any]:
    """One round with what it holds, resolved against what this member can read; items it cannot read (a
    memorandum addressed to other parties) are counted in ``unreadable``, not shown.

    ``agreements`` maps ids to ``protocol.agreement.AgreementView``.

    Raises:
        KeyError: no such round.
    """
    round_ = views.rounds[round_id]
    items: list[dict[str, Any]] = []
    unreadable = 0
    for held in round_.held:
        kind, ref = held.kind, held.ref
        if kind in ("memorandum", "response"):
            memo = views.memoranda.get(ref)
            if memo is None:
                unreadable += 1
                continue
            title = memo.title
        elif kind in ("meeting", "meeting answer"):
            meeting = views.meetings.get(ref)
            if meeting is None:
                unreadable += 1
                continue
            title = f"{meeting.venue}, {meeting.start}"
        else:  # an agreement linked explicitly
            agreement = agreements.get(ref)
            if agreement is None or agreement.latest is None:
                unreadable += 1
                continue
            title = agreement.latest.title
        items.append({**plain(held), "title": title})
    for agreement_id, agreement in agreements.items():
        for version in agreement.versions:
            if _in_round(round_, version.seq):
                items.append({"kind": "agreement version", "ref": agreement_id, "version": version.version,
                              "party": agreement.mediator, "at": version.at, "seq": version.seq,
                              "how": "posted", "title": version.title})
    items.sort(key=lambda i: i["seq"])
    agenda = [{"issue_id": i, "title": views.issues[i].title if i in views.issues else i} for i in round_.agenda]
    meeting = views.meetings.get(round_.meeting_id) if round_.meeting_id else None
    return {**{k: v for k, v in plain(round_).items() if k != "held"}, "agenda": agenda, "items": items,
            "unreadable": unreadable,
            "meeting": None if meeting is None else {"meeting_id": meeting.meeting_id, "venue": meeting.venue,
                                                     "start": meeting.start, "end": meeting.end,
                                                     "timezone": meeting.timezone}}


def rounds_list(views: Views, agreements: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every round, by number."""
    return [round_record(views, agreements, rid)
            for rid in sorted(views.rounds, key=lambda r: views.rounds[r].number)]


def current_round(views: Views) -> str | None:
    """The open round with the highest number, or None when no round is open."""
    open_rounds = [r for r in views.rounds.values() if r.status == "open"]
    return max(open_rounds, key=lambda r: r.number).round_id if open_rounds else None


__all__ = ["current_round", "round_record", "rounds_list"]
