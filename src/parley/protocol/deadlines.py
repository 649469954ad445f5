"""Deadlines and reminders: which official responses, meeting answers and signatures are due, and which are late.

Pure: the clock is a parameter (``now``), so a view computed twice with the same log and the same ``now`` is the
same, and tests move time by passing another ``now``. Three kinds of deadline are set by the party that asks:
a memorandum's ``respond_by`` (the recipients' official responses), a meeting proposal's ``answer_by`` (each
invited party's answer), and a finalized agreement's ``sign_by`` (each party's signature). A deadline is
validated when it is set (``times.check_deadline``: never in the past) and again by every client that reads the
event (after the event's signed creation time).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from parley.protocol.times import parse_time
from parley.protocol.workflow import Views, awaiting_responses, meeting_status

#: a deadline this close is shown as "due soon" (the reminder window)
DUE_SOON = timedelta(hours=24)
KINDS = ("official response", "meeting answer", "signature")


def deadline_state(due: str, now: datetime, *, soon: timedelta = DUE_SOON) -> dict[str, Any]:
    """``{"state": "overdue" | "due soon" | "due", "hours_left": float}`` (negative hours when overdue).

    Raises:
        InputError: ``due`` is not a timestamp.
    """
    left = parse_time(due, what="deadline") - now
    state = "overdue" if left < timedelta(0) else ("due soon" if left <= soon else "due")
    return {"state": state, "hours_left": round(left.total_seconds() / 3600, 1)}


def pending_deadlines(views: Views, agreements: Mapping[str, Any], parties: Iterable[str], now: datetime, *,
                      soon: timedelta = DUE_SOON) -> list[dict[str, Any]]:
    """Every act still awaited that has a deadline, most urgent first.

    Each row: ``kind`` (one of ``KINDS``), ``ref`` (memorandum, meeting or agreement id), ``title``, ``asked_by``
    (party id), ``awaiting`` (party id), ``due``, ``state`` and ``hours_left``. An act given after its deadline
    clears the row like one given in time (the lateness stays visible in the log's times).

    ``agreements`` maps ids to ``protocol.agreement.AgreementView``; ``parties`` are the negotiation's joined
    parties (everyone signs).
    """
    rows = []
    for row in awaiting_responses(views, now):
        if row["respond_by"]:
            rows.append({"kind": "official response", "ref": row["memo_id"], "title": row["title"],
                         "asked_by": row["from"], "awaiting": row["awaiting"], "due": row["respond_by"]})
    for meeting in views.meetings.values():
        if not meeting.answer_by or meeting_status(meeting) == "declined":
            continue
        for party in meeting.invited:
            if party not in meeting.answers:
                rows.append({"kind": "meeting answer", "ref": meeting.meeting_id,
                             "title": f"{meeting.venue}, {meeting.start}", "asked_by": meeting.proposed_by,
                             "awaiting": party, "due": meeting.answer_by})
    parties = list(parties)
    for agreement_id, view in agreements.items():
        finalized = view.finalized
        if finalized is None or not finalized.sign_by or view.latest is None:
            continue
        for party in parties:
            if party not in view.signatures:
                rows.append({"kind": "signature", "ref": agreement_id, "title": view.latest.title,
                             "asked_by": view.mediator, "awaiting": party, "due": finalized.sign_by})
    for row in rows:
        row.update(deadline_state(row["due"], now, soon=soon))
    return sorted(rows, key=lambda r: (r["due"], KINDS.index(r["kind"]), r["ref"], r["awaiting"]))


def awaiting_party(views: Views, agreements: Mapping[str, Any], party: str, now: datetime) -> list[dict[str, Any]]:
    """Everything awaiting ``party``'s act, deadline or not: official responses to memoranda delivered to it,
    meetings it was invited to and has not answered (unless declined), finalized agreements it has not
    signed. Each row: ``key`` (stable: kind, ref and the version awaited), ``kind``, ``ref``, ``title``,
    ``asked_by`` (party id) and ``due`` (None without a deadline).
    """
    rows = []
    for row in awaiting_responses(views, now):
        if row["awaiting"] == party:
            memo = views.memoranda[row["memo_id"]]
            rows.append({"key": f"official response:{row['memo_id']}:{memo.version}", "kind": "official response",
                         "ref": row["memo_id"], "title": row["title"], "asked_by": row["from"],
                         "due": row["respond_by"]})
    for meeting in views.meetings.values():
        if party in meeting.invited and party not in meeting.answers and meeting_status(meeting) != "declined":
            rows.append({"key": f"meeting answer:{meeting.meeting_id}", "kind": "meeting answer",
                         "ref": meeting.meeting_id, "title": f"{meeting.venue}, {meeting.start}",
                         "asked_by": meeting.proposed_by, "due": meeting.answer_by})
    for agreement_id, view in agreements.items():
        finalized = view.finalized
        if finalized is not None and view.latest is not None and party not in view.signatures:
            rows.append({"key": f"signature:{agreement_id}:{view.latest.version}", "kind": "signature",
                         "ref": agreement_id, "title": view.latest.title, "asked_by": view.mediator,
                         "due": finalized.sign_by})
    return sorted(rows, key=lambda r: (r["due"] or "~", KINDS.index(r["kind"]), r["ref"]))


__all__ = ["DUE_SOON", "KINDS", "awaiting_party", "deadline_state", "pending_deadlines"]
