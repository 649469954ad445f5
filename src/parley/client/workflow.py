"""The negotiation workflow on top of ``Client``: agenda, memoranda, receipts, responses, meetings, channels.

Every action validates its content against the current derived views first
(unknown issue, response to an unknown memorandum, a meeting that ends before
it starts...) so bad input fails with a clear message and posts nothing.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from icalendar import Calendar, Event

from parley.client.sdk import Client, Posted
from parley.errors import ForbiddenError, InputError, NotFoundError
from parley.protocol import workflow as wf
from parley.protocol.times import format_time, parse_time

ATTACHMENT_CHUNK = "attachment.chunk"
#: plaintext bytes per chunk event: base64 and age keep each ciphertext well under the 1 MiB limit
ATTACHMENT_CHUNK_BYTES = 512 * 1024


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


class Negotiation:
    """One negotiation as seen by one member's client."""

    def __init__(self, client: Client, negotiation_id: str) -> None:
        self.client = client
        self.id = negotiation_id

    # ---- reading ----------------------------------------------------------------------------------
    def sync(self, *, receipts: bool = True) -> int:
        """Sync (full verification), then acknowledge delivered memoranda. Returns new events."""
        result = self.client.sync(self.id)
        if receipts:
            self.send_receipts()
        return result.new_events

    def entries(self, types: frozenset[str] | None = None) -> list[wf.Entry]:
        """Readable events of the given types (default: the workflow's), oldest first."""
        types = _WORKFLOW_TYPES if types is None else types
        state = self.client.state(self.id)
        out = []
        for seq, env, body, _ in self.client.cache.events(self.id):
            if body is None or body["type"] not in types:
                continue
            header = env["header"]
            author = state.members.get(header["author"])
            if author is None:
                continue
            out.append(wf.Entry(seq=seq, event_id=_event_id(env), created=header["created"], author=author.member,
                                role=author.role, party=author.party_id, authority=header["authority"],
                                audience=tuple(header["audience"]["parties"]), type=body["type"],
                                content=body["content"] if isinstance(body["content"], dict) else {}))
        return out

    def views(self) -> wf.Views:
        return wf.derive_views(self.entries(), self.party_names())

    def fresh_views(self) -> wf.Views:
        """Views after a verified sync: what an action must be checked against."""
        self.client.sync(self.id)
        return self.views()

    def party_names(self) -> dict[str, str]:
        return {pid: p.record.name for pid, p in self.client.state(self.id).parties.items()}

    def party_id(self, name_or_id: str) -> str:
        """Raises: NotFoundError if no party in this negotiation has that name or id."""
        for pid, name in self.party_names().items():
            if name_or_id in (pid, name):
                return pid
        raise NotFoundError(f"no party '{name_or_id}' in this negotiation")

    # ---- posting helpers --------------------------------------------------------------------------
    def _post(self, event_type: str, content: dict[str, Any], *, parties: Sequence[str] | None = None,
              roles: Sequence[str] | None = None, authority: str = "member") -> Posted:
        self.client.sync(self.id)
        views = self.views()
        wf.check_content(event_type, content, issues=views.issues, memoranda=views.memoranda,
                         meetings=views.meetings, channels=views.channels)
        return self.client.post(self.id, event_type, content, parties=parties, roles=roles, authority=authority)

    @property
    def own_party(self) -> str:
        return self.client.profile.party.party_id

    # ---- agenda and rounds ------------------------------------------------------------------------
    def add_issue(self, title: str, issue_id: str | None = None) -> str:
        issue_id = issue_id or new_id("issue")
        self._post(wf.ISSUE_ADD, {"issue_id": issue_id, "title": title})
        return issue_id

    def rename_issue(self, issue_id: str, title: str) -> Posted:
        return self._post(wf.ISSUE_RENAME, {"issue_id": issue_id, "title": title})

    def close_issue(self, issue_id: str) -> Posted:
        return self._post(wf.ISSUE_CLOSE, {"issue_id": issue_id})

    def open_round(self, number: int, venue: str, starts: datetime, ends: datetime | None = None) -> str:
        round_id = f"round-{number}"
        self._post(wf.ROUND_OPEN, {"round_id": round_id, "number": number, "venue": venue,
                                   "starts": format_time(starts), "ends": None if ends is None else format_time(ends)})
        return round_id

    def close_round(self, round_id: str, outcome: str) -> Posted:
        return self._post(wf.ROUND_CLOSE, {"round_id": round_id, "outcome": outcome})

    # ---- memoranda --------------------------------------------------------------------------------
    def draft_memorandum(self, title: str, positions: Mapping[str, str], memo_id: str | None = None) -> str:
        """Save a draft version readable by this party's members only."""
        memo_id = memo_id or new_id("memo")
        version = len(self.fresh_views().drafts.get(memo_id, [])) + 1
        self._post(wf.MEMO_DRAFT, {"memo_id": memo_id, "version": version, "title": title,
                                   "positions": dict(positions)}, parties=[self.own_party])
        return memo_id

    def deliver_memorandum(self, title: str, positions: Mapping[str, str], to: Sequence[str], *,
                           memo_id: str | None = None, respond_by: datetime | None = None,
                           restricted: Mapping[str, str] | None = None, tracing: bool = True,
                           attachments: Sequence[Path] = ()) -> str:
        """Deliver positions per key issue to the chosen parties; ``restricted`` sections reach heads only.

        Raises:
            InputError: empty memorandum, unknown key issue, no recipient party.
        """
        if not to:
            raise InputError("deliver a memorandum to at least one other party")
        limit = self.client.limits.max_attachment_bytes
        for path in attachments:
            if not path.is_file():
                raise InputError(f"attachment {path} is not a file")
            if path.stat().st_size > limit:
                raise InputError(f"attachment {path.name} is over the limit of {limit // (1024 * 1024)} MB")
        memo_id = memo_id or new_id("memo")
        views = self.fresh_views()
        existing = views.memoranda.get(memo_id)
        version = 1 if existing is None else existing["version"] + 1
        parties = sorted({self.own_party, *to})
        content = {"memo_id": memo_id, "version": version, "title": title, "positions": dict(positions),
                   "respond_by": None if respond_by is None else format_time(respond_by), "attachments": []}
        wf.check_content(wf.MEMO_DELIVER, content, issues=views.issues)
        content["attachments"] = [self._post_attachment(path, parties) for path in attachments]
        copies = None
        if tracing:
            copies = self._traced(memo_id, version, content, parties)
        self.client.post(self.id, wf.MEMO_DELIVER, content, parties=parties, copies=copies)
        if restricted:
            self._post(wf.MEMO_RESTRICTED, {"memo_id": memo_id, "sections": dict(restricted)}, parties=parties,
                       roles=["head"])
        return memo_id

    def _traced(self, document_id: str, version: int, content: dict[str, Any], parties: Sequence[str]):  # noqa: ANN202
        """Mark one copy per reader; store the tracing secret in an event only our party can read."""
        from parley.client.tracing import TRACING_SECRET, prepare_copies, secret_content

        now = self.client.clock()
        readers = self.client.state(self.id).current_members(now, parties)
        traced = prepare_copies(content["positions"], readers, self.party_names(), now)
        self.client.post(self.id, TRACING_SECRET, secret_content(document_id, version, traced),
                         parties=[self.own_party])

        def copy_for(cert):  # noqa: ANN001, ANN202
            return {**content, "positions": traced.copies[cert.device_key_id],
                    "copy": traced.visible[cert.device_key_id]}

        return copy_for

    def tracing_secrets(self) -> list[dict[str, Any]]:
        """Tracing secrets of documents this party sent (readable by this party's members only)."""
        from parley.client.tracing import TRACING_SECRET

        return [body["content"] for _, _, body, _ in self.client.cache.events(self.id)
                if body is not None and body["type"] == TRACING_SECRET]

    def access_log(self) -> list[dict[str, Any]]:
        """The relay's record of who fetched which ciphertext of this negotiation, with member names."""
        state = self.client.state(self.id)
        entries = self.client.conn.get(f"/v1/negotiations/{self.id}/access-log")["entries"]
        for entry in entries:
            cert = state.members.get(entry["device_key_id"])
            entry["member"] = cert.member if cert else entry["device_key_id"]
            entry["party"] = self.party_names().get(cert.party_id, "") if cert else ""
        return entries

    def _post_attachment(self, path: Path, parties: Sequence[str]) -> dict[str, Any]:
        """Stream a file into the log as encrypted chunk events; never holds more than one chunk."""
        attachment_id = new_id("att")
        size = path.stat().st_size
        total = max(1, -(-size // ATTACHMENT_CHUNK_BYTES))
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for index in range(total):
                chunk = handle.read(ATTACHMENT_CHUNK_BYTES)
                digest.update(chunk)
                self.client.post(self.id, ATTACHMENT_CHUNK, {
                    "attachment_id": attachment_id, "index": index, "total": total,
                    "data": base64.b64encode(chunk).decode("ascii")}, parties=parties)
        return {"attachment_id": attachment_id, "name": path.name, "size": size, "sha256": digest.hexdigest(),
                "chunks": total}

    def save_attachment(self, attachment_id: str, out: Path) -> Path:
        """Write a received attachment to ``out``, chunk by chunk, checking its SHA-256.

        Raises:
            NotFoundError: unknown attachment.  VerificationError: missing chunks or a digest mismatch.
        """
        from parley.errors import VerificationError

        meta = next((a for m in self.views().memoranda.values() for a in m.get("attachments", [])
                     if a.get("attachment_id") == attachment_id), None)
        if meta is None:
            raise NotFoundError(f"no attachment '{attachment_id}' that you can read")
        digest, written, expected = hashlib.sha256(), 0, 0
        tmp = out.with_name(out.name + ".part")
        with tmp.open("wb") as handle:
            for _, body in self.client.cache.iter_bodies(self.id):
                if body["type"] != ATTACHMENT_CHUNK:
                    continue
                chunk = body["content"]
                if chunk.get("attachment_id") != attachment_id:
                    continue
                if chunk.get("index") != expected:
                    raise VerificationError(f"attachment chunk {expected} is missing or out of order")
                data = base64.b64decode(chunk["data"], validate=True)
                digest.update(data)
                handle.write(data)
                written += len(data)
                expected += 1
        if expected != meta["chunks"] or written != meta["size"] or digest.hexdigest() != meta["sha256"]:
            tmp.unlink(missing_ok=True)
            raise VerificationError("the attachment does not match the size and SHA-256 its sender declared")
        tmp.replace(out)
        return out

    def send_receipts(self) -> list[Posted]:
        """Acknowledge every memorandum delivered to this party that this member has not acknowledged yet."""
        posted = []
        views = self.views()
        me = self.client.profile.member
        acknowledged = {e.content.get("memo_id") for e in self.entries() if e.type == wf.RECEIPT and e.author == me
                        and e.party == self.own_party}
        for memo in views.memoranda.values():
            if self.own_party in memo["delivered_to"] and memo["memo_id"] not in acknowledged:
                posted.append(self.client.post(self.id, wf.RECEIPT, {"memo_id": memo["memo_id"],
                                                                      "event_id": memo["event_id"]},
                                               parties=sorted({memo["party"], self.own_party})))
        return posted

    def respond(self, memo_id: str, stances: Mapping[str, Mapping[str, str]], covering_text: str | None = None) -> Posted:
        """Give this party's official response (heads only).

        Raises:
            ForbiddenError: this member is not a head of delegation.
            InputError: unknown memorandum, bad stance.
        """
        if self.client.profile.role != "head":
            raise ForbiddenError("only the head of delegation can give an official response")
        views = self.fresh_views()
        memo = views.memoranda.get(memo_id)
        if memo is None:
            raise InputError(f"no memorandum '{memo_id}' to respond to")
        content = {"memo_id": memo_id, "stances": {k: dict(v) for k, v in stances.items()},
                   "covering_text": covering_text}
        return self._post(wf.RESPONSE, content, parties=sorted({memo["party"], self.own_party, *memo["delivered_to"]}),
                          authority="head")

    def comment(self, ref: str, text: str, parties: Sequence[str] | None = None) -> Posted:
        return self._post(wf.COMMENT, {"ref": ref, "text": text}, parties=parties)

    def redline(self, memo_id: str, old_version: int, new_version: int) -> str:
        """Raises: NotFoundError for an unknown memorandum or version."""
        views = self.views()
        versions = {v["version"]: v["positions"] for v in views.memoranda.get(memo_id, {}).get("versions", [])}
        versions.update({v["version"]: v["positions"] for v in views.drafts.get(memo_id, [])}
                        if memo_id not in views.memoranda else {})
        if old_version not in versions or new_version not in versions:
            raise NotFoundError(f"memorandum '{memo_id}' has no version {old_version} or {new_version}")
        return wf.redline(versions[old_version], versions[new_version])

    # ---- meetings ---------------------------------------------------------------------------------
    def propose_meeting(self, *, venue: str, start: datetime, end: datetime, timezone: str, level: str,
                        parties: Sequence[str], agenda: Sequence[str] = (), participants: Sequence[str] = ()) -> str:
        meeting_id = new_id("meeting")
        self._post(wf.MEETING_PROPOSE, {"meeting_id": meeting_id, "venue": venue, "start": format_time(start),
                                        "end": format_time(end), "timezone": timezone, "level": level,
                                        "agenda": list(agenda), "participants": list(participants)},
                   parties=sorted({self.own_party, *parties}))
        return meeting_id

    def answer_meeting(self, meeting_id: str, answer: str, *, note: str | None = None,
                       counter: Mapping[str, Any] | None = None) -> Posted:
        views = self.fresh_views()
        meeting = views.meetings.get(meeting_id)
        if meeting is None:
            raise InputError(f"no meeting '{meeting_id}' to answer")
        content = {"meeting_id": meeting_id, "answer": answer, "note": note, "counter": dict(counter) if counter else None}
        return self._post(wf.MEETING_RESPOND, content, parties=sorted({meeting["proposed_by"], *meeting["invited"]}))

    def ics(self, meeting_id: str) -> bytes:
        """The iCalendar file of an accepted meeting.

        Raises:
            InputError: the meeting is not accepted by every invited party.
        """
        meeting = self.views().meetings.get(meeting_id)
        if meeting is None:
            raise NotFoundError(f"no meeting '{meeting_id}'")
        if wf.meeting_status(meeting) != "accepted":
            raise InputError("only accepted meetings are exported to a calendar")
        names = self.party_names()
        calendar = Calendar()
        calendar.add("prodid", "-//parley//negotiation meetings//EN")
        calendar.add("version", "2.0")
        event = Event()
        event.add("uid", f"{meeting_id}@{self.id}.parley")
        event.add("summary", f"{meeting['level'].capitalize()}-level meeting: "
                             + ", ".join(names.get(p, p) for p in [meeting["proposed_by"], *meeting["invited"]]))
        event.add("location", meeting["venue"])
        event.add("dtstart", parse_time(meeting["start"]))
        event.add("dtend", parse_time(meeting["end"]))
        event.add("dtstamp", parse_time(meeting["proposed_at"]))
        event.add("description", f"Time zone of the venue: {meeting['timezone']}. Confidential.")
        event.add("class", "CONFIDENTIAL")
        calendar.add_component(event)
        return calendar.to_ical()

    # ---- channels ---------------------------------------------------------------------------------
    def open_channel(self, name: str, parties: Sequence[str]) -> str:
        channel_id = new_id("channel")
        self._post(wf.CHANNEL_OPEN, {"channel_id": channel_id, "name": name},
                   parties=sorted({self.own_party, *parties}))
        return channel_id

    def channel_message(self, channel_id: str, text: str) -> Posted:
        channel = self.fresh_views().channels.get(channel_id)
        if channel is None:
            raise InputError(f"no channel '{channel_id}' (or this member cannot read it)")
        return self._post(wf.CHANNEL_MESSAGE, {"channel_id": channel_id, "text": text}, parties=channel["parties"])

    # ---- status -----------------------------------------------------------------------------------
    def status(self, now: datetime | None = None) -> dict[str, Any]:
        """Every derived view, with party names, as one JSON-ready document."""
        now = now or self.client.clock()
        views = self.views()
        names = self.party_names()
        state = self.client.state(self.id)

        def name(pid: str) -> str:
            return names.get(pid, pid)

        awaiting = [{**row, "from": name(row["from"]), "awaiting": name(row["awaiting"])}
                    for row in wf.awaiting_responses(views, now)]
        matrix = wf.positions_matrix(views, state.joined_parties())
        matrix = {"parties": [name(p) for p in matrix["parties"]],
                  "issues": [{**row, "cells": {name(p): cell for p, cell in row["cells"].items()}}
                             for row in matrix["issues"]]}
        meetings = [{**m, "proposed_by": name(m["proposed_by"]), "invited": [name(p) for p in m["invited"]],
                     "answers": {name(p): a for p, a in m["answers"].items()}} for m in wf.calendar(views)]
        memoranda = [{"memo_id": m["memo_id"], "title": m["title"], "from": name(m["party"]), "version": m["version"],
                      "delivered_at": m["delivered_at"], "to": [name(p) for p in m["delivered_to"]],
                      "receipts": {name(p): r["at"] for p, r in m["receipts"].items()},
                      "responses": {name(p): {"at": r["at"], "stances": r["stances"]} for p, r in m["responses"].items()},
                      "restricted_sections": sorted(m["restricted"])} for m in views.memoranda.values()]
        return {
            "negotiation_id": self.id, "as_of": format_time(now), "log_size": state.size,
            "parties": [{"name": name(p), "status": state.parties[p].status} for p in sorted(state.parties, key=name)],
            "issues": [{"issue_id": k, **v, "added_by": name(v["added_by"])} for k, v in views.issues.items()],
            "rounds": list(views.rounds.values()),
            "memoranda": memoranda,
            "awaiting_official_response": awaiting,
            "positions_matrix": matrix,
            "meetings": meetings,
            "channels": [{"channel_id": c["channel_id"], "name": c["name"], "parties": [name(p) for p in c["parties"]],
                          "messages": len(c["messages"])} for c in views.channels.values()],
            "timeline": [{"seq": t["seq"], "created": t["created"], "author": t["author"], "party": t["party"],
                          "type": t["type"] or "(sealed to others)"} for t in self.client.timeline(self.id)],
            "violations": views.violations,
        }


_WORKFLOW_TYPES = frozenset({
    wf.ISSUE_ADD, wf.ISSUE_RENAME, wf.ISSUE_CLOSE, wf.ROUND_OPEN, wf.ROUND_CLOSE, wf.MEMO_DRAFT, wf.MEMO_DELIVER,
    wf.MEMO_RESTRICTED, wf.RECEIPT, wf.RESPONSE, wf.COMMENT, wf.MEETING_PROPOSE, wf.MEETING_RESPOND,
    wf.CHANNEL_OPEN, wf.CHANNEL_MESSAGE, wf.MESSAGE,
})


def _event_id(env: Mapping[str, Any]) -> str:
    import hashlib

    from parley.crypto.canonical import canonical_bytes

    return hashlib.sha256(canonical_bytes(env["header"])).hexdigest()
