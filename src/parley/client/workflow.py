"""The negotiation workflow on top of ``Client``: agenda, memoranda, receipts, responses, meetings, channels.

Every action validates its content against the current derived views first
(unknown issue, response to an unknown memorandum, a meeting that ends before
it starts...) so bad input fails with a clear message and posts nothing.
"""

from __future__ import annotations

import difflib
import secrets
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from parley.client.acts import act
from parley.client.attachments import ATTACHMENT_CHUNK, ATTACHMENT_CHUNK_BYTES  # noqa: F401 - re-exported
from parley.client.offline import staged_act
from parley.client.sdk import Client
from parley.client.sync import Posted
from parley.errors import ForbiddenError, InputError, NotFoundError, ProtocolError
from parley.protocol import workflow as wf
from parley.protocol.deadlines import pending_deadlines
from parley.protocol.languages import DEFAULT_LANGUAGE
from parley.protocol.record_bodies import TracingRecord
from parley.protocol.rounds import current_round, rounds_list
from parley.protocol.times import check_deadline, format_time, parse_time
from parley.protocol.views import plain as plain_view


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


class Negotiation:
    """One negotiation as seen by one member's client."""

    def __init__(self, client: Client, negotiation_id: str) -> None:
        self.client = client
        self.id = negotiation_id

    # ---- reading ----------------------------------------------------------------------------------
    @act
    def sync(self, *, receipts: bool = True) -> int:
        """Sync (full verification), then acknowledge delivered memoranda and, on a head's device, record for
        the party the verifications it has not recorded here yet. Returns new events."""
        result = self.client.sync(self.id)
        if receipts:
            self.send_owed()
        return result.new_events

    @act
    def send_owed(self) -> None:
        """Post what this member's client owes the talks, from the local copy: delivery receipts, a head's
        party verifications not recorded here yet, the title for parties that joined after it was set.
        Nothing from a copy shown offline (as of an older checkpoint)."""
        if self.id in self.client.offline:
            return
        self.send_receipts()
        from parley.client.trust import carry_party_trust

        carry_party_trust(self.client, self.id)
        self.share_title()

    def set_title(self, title: str) -> Posted:
        """Give the negotiation a title (encrypted to the parties in it; the relay never sees it).

        Raises:
            InputError: empty or over 300 characters.
        """
        return self._post(wf.TITLE, {"title": title.strip()})

    def share_title(self) -> Posted | None:
        """Send the title again when parties joined after it was set (they could not read it).

        Only the party that set the title does so, so several members do not all repeat it.
        """
        title = self.views().title
        if title is None or title.party != self.own_party:
            return None
        joined = self.client.state(self.id).joined_parties()
        if set(joined) <= set(title.audience):
            return None
        return self.client.post(self.id, wf.TITLE, {"title": title.title}, parties=joined)

    def title(self) -> str | None:
        """The title as this member can read it (from the local copy), or None."""
        title = self.views().title
        return None if title is None else title.title

    def entries(self, types: frozenset[str] | None = None) -> list[wf.Entry]:
        """Readable events of the given types (default: the workflow's), oldest first."""
        from parley.client.entries import entries

        return entries(self.client, self.id, _WORKFLOW_TYPES if types is None else types)

    def views(self) -> wf.Views:
        return wf.derive_views(self.entries(), self.party_names(), self.client.state(self.id).convener)

    def fresh_views(self) -> wf.Views:
        """Views after a verified sync: what an action must be checked against."""
        self.client.sync(self.id)
        return self.views()

    def agreements(self) -> dict[str, Any]:
        """Agreement views folded from the local copy (``parley.protocol.agreement``), by agreement id."""
        from parley.protocol import agreement as ag
        from parley.tracing import unmark

        return ag.derive_agreements(self.entries(ag.AGREEMENT_TYPES), self.id, unmark=unmark)[0]

    def party_names(self) -> dict[str, str]:
        return {pid: p.record.name for pid, p in self.client.state(self.id).parties.items()}

    def party_id(self, name_or_id: str) -> str:
        """Raises: NotFoundError if no party in this negotiation has that name or id."""
        for pid, name in self.party_names().items():
            if name_or_id in (pid, name):
                return pid
        raise NotFoundError(f"no party '{name_or_id}' in this negotiation")

    def issue_id(self, typed: str, views: wf.Views | None = None) -> str:
        """The key issue a person means: its id, or its exact title (case and spacing ignored).

        Raises:
            NotFoundError: no such issue; the message lists the closest ids and titles, or says how to add one.
        """
        views = views or self.views()
        if typed in views.issues:
            return typed
        wanted = " ".join(typed.split()).casefold()
        by_title = [k for k, v in views.issues.items() if " ".join(v.title.split()).casefold() == wanted]
        if len(by_title) == 1:
            return by_title[0]
        if len(by_title) > 1:
            raise InputError(f"several key issues are titled '{typed}': use an id ({', '.join(by_title)})")
        choices = {**{k: k for k in views.issues}, **{v.title: k for k, v in views.issues.items()}}
        close = difflib.get_close_matches(typed, list(choices), n=3, cutoff=0.5)
        if close:
            hint = "did you mean " + " or ".join(f"'{choices[c]}' ({views.issues[choices[c]].title})"
                                                  for c in dict.fromkeys(close)) + "?"
        elif views.issues:
            hint = "key issues: " + ", ".join(f"{k} ({v.title})" for k, v in views.issues.items())
        else:
            hint = "this negotiation has no key issues yet: add one with 'parley issue add NEGOTIATION TITLE --id ID'"
        raise NotFoundError(f"unknown key issue '{typed}'", hint=hint)

    # ---- posting helpers --------------------------------------------------------------------------
    @act
    def _post(self, event_type: str, content: dict[str, Any], *, parties: Sequence[str] | None = None,
              roles: Sequence[str] | None = None, authority: str = "member") -> Posted:
        self.client.sync(self.id)
        views = self.views()
        wf.check_content(event_type, content, issues=views.issues, memoranda=views.memoranda,
                         meetings=views.meetings, channels=views.channels)
        if event_type in wf.AGENDA_TYPES:
            try:
                wf.check_agenda_right(event_type, self.own_party, self.client.profile.role,
                                      views.issues.get(content["issue_id"]), self.client.state(self.id).convener)
            except ProtocolError as exc:
                raise ForbiddenError(exc.message) from None
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

    def open_round(self, number: int, venue: str | None = None, starts: datetime | None = None,
                   ends: datetime | None = None, *, meeting_id: str | None = None, agenda: Sequence[str] = ()) -> str:
        """Open round ``number`` (id ``round-N``); returns its id. Held at ``meeting_id`` (a meeting this member
        can read), the venue and dates default to the meeting's.

        Raises:
            InputError: no venue or start, an unknown meeting or agenda issue, a round number already used.
        """
        round_id = f"round-{number}"
        views = self.fresh_views()
        if round_id in views.rounds:
            raise InputError(f"round {number} exists already ({views.rounds[round_id].status})")
        content: dict[str, Any] = {"round_id": round_id, "number": number, "venue": venue,
                                   "starts": None if starts is None else format_time(starts),
                                   "ends": None if ends is None else format_time(ends), "agenda": list(agenda)}
        if meeting_id is not None:
            meeting = views.meetings.get(meeting_id)
            if meeting is None:
                raise InputError(f"no meeting '{meeting_id}' to hold the round at")
            content["meeting_id"] = meeting_id
            content["venue"] = venue or meeting.venue
            if starts is None:
                content["starts"], content["ends"] = meeting.start, meeting.end
        if not content["venue"]:
            raise InputError("a round needs a venue (or the meeting it is held at)")
        if content["starts"] is None:
            raise InputError("a round needs a start date (or the meeting it is held at)")
        self._post(wf.ROUND_OPEN, content)
        return round_id

    def close_round(self, round_id: str, outcome: str) -> Posted:
        """Close an open round with its outcome.

        Raises:
            NotFoundError: no such round.  InputError: closed already, or an empty outcome.
        """
        round_ = self.fresh_views().rounds.get(round_id)
        if round_ is None:
            raise NotFoundError(f"no round '{round_id}'")
        if round_.status == "closed":
            raise InputError(f"round '{round_id}' is closed already")
        return self._post(wf.ROUND_CLOSE, {"round_id": round_id, "outcome": outcome})

    def link_to_round(self, round_id: str, kind: str, ref: str) -> Posted:
        """Record that a memorandum, meeting or agreement belongs to a round (whenever it was posted).

        Raises:
            NotFoundError: no such round, or nothing of that kind and id that this member can read.
            InputError: an unknown kind.
        """

        views = self.fresh_views()
        if round_id not in views.rounds:
            raise NotFoundError(f"no round '{round_id}'")
        if kind not in wf.ROUND_LINK_KINDS:
            raise InputError(f"a round is linked to one of: {', '.join(wf.ROUND_LINK_KINDS)}")
        known = {"memorandum": views.memoranda, "meeting": views.meetings,
                 "agreement": self.agreements()}[kind]
        if ref not in known:
            raise NotFoundError(f"no {kind} '{ref}' that you can read")
        return self._post(wf.ROUND_LINK, {"round_id": round_id, "kind": kind, "ref": ref})

    def rounds(self, views: wf.Views | None = None) -> list[dict[str, Any]]:
        """Every round by number, with what it holds (readable items only) and party names."""

        views = views or self.views()
        agreements = self.agreements()
        names = self.party_names()

        def name(pid: str | None) -> str | None:
            return None if pid is None else names.get(pid, pid)

        return [{**r, "opened_by": name(r["opened_by"]), "closed_by": name(r["closed_by"]),
                 "current": r["round_id"] == current_round(views),
                 "items": [{**i, "party": name(i["party"])} for i in r["items"]]}
                for r in rounds_list(views, agreements)]

    def round(self, round_id: str) -> dict[str, Any]:
        """Raises: NotFoundError for an unknown round."""
        for found in self.rounds():
            if found["round_id"] == round_id:
                return found
        raise NotFoundError(f"no round '{round_id}'")

    # ---- memoranda --------------------------------------------------------------------------------
    @act
    def draft_memorandum(self, title: str, positions: Mapping[str, str], memo_id: str | None = None, *,
                         attachments: Sequence[Path] = ()) -> str:
        """Save a draft version readable by this party's members only, with ``attachments`` (files, streamed).

        Raises:
            InputError: another party's memorandum id, an empty draft, an attachment that is not a file or is
                over the limit (nothing is posted).
        """
        memo_id = memo_id or new_id("memo")
        views = self.fresh_views()
        delivered = views.memoranda.get(memo_id)
        if delivered is not None and delivered.party != self.own_party:
            raise InputError(f"'{memo_id}' is another party's memorandum")
        version = len(views.drafts.get(memo_id, [])) + 1
        self._post_with_files(wf.MEMO_DRAFT, {"memo_id": memo_id, "version": version, "title": title,
                                              "positions": dict(positions)}, attachments, parties=[self.own_party])
        return memo_id

    def check_files(self, paths: Sequence[Path]) -> None:
        """Raises: InputError: a path that is not a file, or a file over the attachment limit."""
        limit = self.client.limits.max_attachment_bytes
        for path in paths:
            if not Path(path).is_file():
                raise InputError(f"attachment {path} is not a file")
            if Path(path).stat().st_size > limit:
                raise InputError(f"attachment {Path(path).name} is over the limit of {limit // (1024 * 1024)} MB")

    def _post_with_files(self, event_type: str, content: dict[str, Any], attachments: Sequence[Path], *,
                         parties: Sequence[str], authority: str = "member") -> Posted:
        """Post an act with its files: the files and the act are checked first, then each file is streamed
        into the log as chunk events, then the act names them (id, name, size, SHA-256, chunks) and is signed.

        Raises:
            InputError: the act or a file is refused (nothing is posted); a file that changed while it was read.
        """
        self.check_files(attachments)
        if not attachments:
            return self._post(event_type, content, parties=parties, authority=authority)
        views = self.fresh_views()
        wf.check_content(event_type, content, issues=views.issues, memoranda=views.memoranda,
                         meetings=views.meetings, channels=views.channels)
        # The chunk events and the act that names them are one staged act: posted together, or not at all.
        with staged_act(self.client) as staged:
            content = {**content, "attachments": [self._post_attachment(Path(p), parties) for p in attachments]}
            posted = self._post(event_type, content, parties=parties, authority=authority)
        return staged.posted(posted)

    @act
    def deliver_draft(self, memo_id: str, to: Sequence[str], *, draft_version: int | None = None,
                      **options: Any) -> str:
        """Deliver a draft of this party as it stands (its latest version, or ``draft_version``), under the draft's
        own id: the delivered versions keep the draft's lineage. ``options`` as ``deliver_memorandum``.

        Raises:
            NotFoundError: no such draft of this party.  InputError: as ``deliver_memorandum``.
        """
        drafts = [d for d in self.fresh_views().drafts.get(memo_id, []) if d.party == self.own_party]
        chosen = [d for d in drafts if draft_version is None or d.version == draft_version]
        if not chosen:
            which = "any version" if draft_version is None else f"version {draft_version}"
            raise NotFoundError(f"no draft '{memo_id}' ({which}) of your party")
        return self.deliver_memorandum(chosen[-1].title, chosen[-1].positions, to, memo_id=memo_id, **options)

    @act
    def deliver_memorandum(self, title: str, positions: Mapping[str, str], to: Sequence[str], *,
                           memo_id: str | None = None, respond_by: datetime | None = None,
                           restricted: Mapping[str, str] | None = None, tracing: bool = True,
                           attachments: Sequence[Path] = (), vetoed_variants: Sequence[int] = (),
                           translations: Mapping[str, Mapping[str, Any]] | None = None, language: str | None = None,
                           prevailing: str | None = None, annex_marks: bool = True) -> str:
        """Deliver positions per key issue to the chosen parties; ``restricted`` sections reach heads only.

        ``translations`` maps other languages to ``{"title", "positions"}`` on the same key issues: one text per
        language, ``language`` naming the first (default ``en``), equally authentic unless ``prevailing``.

        With ``tracing`` each reader's copy differs in wording: the author's ``{a|b}`` alternatives
        and the automatic variants ``variant_preview`` lists, less the numbers in ``vetoed_variants``.

        PDF attachments reach each reader with its copy line stamped on every page and, with tracing, its image
        mark over every page (``tracing.image_marks``: it survives a screenshot or a print-out without the line);
        ``annex_marks=False`` leaves the copy line alone (for annexes whose pages must show no texture).

        Raises:
            InputError: empty memorandum, unknown key issue, no recipient party, malformed ``{a|b}``,
                an attachment over the limit, or (with tracing) a PDF annex that is encrypted, unreadable or over
                ``Limits.max_stamped_pdf_bytes``.
        """
        if not to:
            raise InputError("deliver a memorandum to at least one other party")
        self.check_files(attachments)
        for path in attachments:
            if tracing:
                from parley.client.tracing import check_stampable, is_pdf

                if is_pdf(path):
                    check_stampable(path, self.client.limits.max_stamped_pdf_bytes)
        memo_id = memo_id or new_id("memo")
        views = self.fresh_views()
        existing = views.memoranda.get(memo_id)
        version = 1 if existing is None else existing.version + 1
        parties = sorted({self.own_party, *to})
        from parley.client.tracing import canonical_positions

        source = dict(positions)
        content = {"memo_id": memo_id, "version": version, "title": title, "positions": canonical_positions(source),
                   "respond_by": None if respond_by is None else format_time(respond_by), "attachments": []}
        if translations:
            # One text per language; the first language's is the traced one (translations reach every reader
            # worded alike: a leak of a translation is not traced, see docs/tracing.md).
            content["languages"] = [language or DEFAULT_LANGUAGE, *translations]
            content["texts"] = {code: {"title": t.get("title") or title, "positions": dict(t.get("positions") or {})}
                                for code, t in translations.items()}
            content["prevailing"] = prevailing
        check_deadline(content["respond_by"], now=self.client.clock(), what="respond-by deadline")
        wf.check_content(wf.MEMO_DELIVER, {**content, **({"restricted": dict(restricted)} if restricted else {})},
                         issues=views.issues)
        copies = None
        sections = None if not restricted else canonical_positions(restricted)
        # One event is the memorandum: the worded copies, the heads' restricted sections and the tracing secret
        # travel together. With files, their chunk events and it are one staged act: all posted, or none.
        with staged_act(self.client) if attachments else nullcontext():
            if tracing or sections:
                copies = self._copies(memo_id, version, {**content, "positions": source}, parties, tracing=tracing,
                                      restricted=sections, vetoed=vetoed_variants, canonical=content["positions"],
                                      attachments=attachments, annex_marks=annex_marks)
            else:
                content["attachments"] = [self._post_attachment(path, parties) for path in attachments]
            self.client.post(self.id, wf.MEMO_DELIVER, content, parties=parties, copies=copies)
        return memo_id

    def _copies(self, document_id: str, version: int, content: dict[str, Any], parties: Sequence[str], *,
                tracing: bool, restricted: Mapping[str, str] | None, vetoed: Sequence[int] = (),
                canonical: Mapping[str, str] | None = None, attachments: Sequence[Path] = (),
                annex_marks: bool = True):  # noqa: ANN202
        """One copy per reader: worded for it when tracing, with the restricted sections for heads, and the
        tracing secret only in the copies of this party's heads and of this device (``tracing_holders``).
        ``content["positions"]`` is the author's source (with alternatives); ``canonical`` its resolved text.

        When tracing, PDF attachments reach each reader with its copy line stamped on every page and its image
        mark (keyed by the document's tracing secret) over every page; other files reach everyone as the same
        bytes.
        """
        from parley.client.tracing import is_pdf, prepare_copies, secret_content, tracing_holders

        now = self.client.clock()
        readers = self.client.state(self.id).current_members(now, parties)
        traced = (prepare_copies(content["positions"], readers, self.party_names(), now, vetoed=vetoed)
                  if tracing else None)
        secret = None if traced is None else secret_content(document_id, version, traced)
        holders = tracing_holders(readers, self.own_party, self.client.identity.device_key_id)
        shared, stamped = [], []
        for path in attachments:
            if traced is not None and is_pdf(path):
                stamped.append(self._post_stamped_attachment(path, parties, traced.visible,
                                                             traced.secret if annex_marks else None))
            else:
                shared.append(self._post_attachment(path, parties))
        plain = {**content, "positions": dict(canonical if canonical is not None else content["positions"]),
                 "attachments": shared + [metas[None] for metas in stamped]}

        def copy_for(cert):  # noqa: ANN001, ANN202
            device = cert.device_key_id
            out = dict(plain)
            if traced is not None:
                out.update(positions=traced.copies[device], copy=traced.visible[device],
                           attachments=shared + [metas.get(device, metas[None]) for metas in stamped])
            if restricted and cert.role == "head":
                out["restricted"] = dict(restricted)
            if secret is not None and device in holders:
                out["tracing"] = secret
            return out

        return copy_for

    def tracing_secrets(self) -> list[TracingRecord]:
        """Tracing records (typed, ``record_bodies.TracingRecord``) of documents this party sent that this device holds (its heads' and the sending
        device's copies carry them; older logs have them in separate ``tracing.secret`` events)."""
        from parley.client.tracing import secrets_in_body

        return [secret for _, _, body, _ in self.client.cache.events(self.id) for secret in secrets_in_body(body)]

    def tracing_holders(self) -> list[str]:
        """Who can trace this party's documents: its current heads of delegation (and each sending device)."""
        state = self.client.state(self.id)
        return sorted(c.member for c in state.current_members(self.client.clock(), [self.own_party], ["head"]))

    def access_log(self) -> list[dict[str, Any]]:
        """The relay's record of who fetched which ciphertext of this negotiation, with member names."""
        state = self.client.state(self.id)
        entries = self.client.conn.get(f"/v1/negotiations/{self.id}/access-log")["entries"]
        for entry in entries:
            cert = state.members.get(entry["device_key_id"])
            entry["member"] = cert.member if cert else entry["device_key_id"]
            entry["party"] = self.party_names().get(cert.party_id, "") if cert else ""
        return entries

    def _post_stamped_attachment(self, path: Path, parties: Sequence[str], visible: Mapping[str, str],
                                 secret: Any = None) -> dict[str | None, dict[str, Any]]:
        from parley.client.attachments import post_stamped_attachment

        return post_stamped_attachment(self, path, parties, visible, secret)

    def _post_attachment(self, path: Path, parties: Sequence[str]) -> dict[str, Any]:
        from parley.client.attachments import post_attachment

        return post_attachment(self, path, parties)

    def attachments(self) -> list[dict[str, Any]]:
        """Every file this member can read, as its signed event declares it (``parley.client.attachments``)."""
        from parley.client.attachments import readable_attachments

        return readable_attachments(self)

    def save_attachment(self, attachment_id: str, out: Path) -> Path:
        """Write a received file to ``out``, checked against its declared size and SHA-256; nothing is left
        behind when it does not match.

        Raises:
            NotFoundError: unknown attachment.  VerificationError: missing chunks or a digest mismatch.
        """
        from parley.client.attachments import save_attachment

        return save_attachment(self, attachment_id, out)

    @act
    def send_receipts(self) -> list[Posted]:
        """Acknowledge every memorandum delivered to this party that this member has not acknowledged yet."""
        posted = []
        views = self.views()
        me = self.client.profile.member
        acknowledged = {body.memo_id for e in self.entries(frozenset({wf.RECEIPT}))
                        if e.author == me and e.party == self.own_party and (body := wf.readable_body(e)) is not None}
        for memo in views.memoranda.values():
            if self.own_party in memo.delivered_to and memo.memo_id not in acknowledged:
                posted.append(self.client.post(self.id, wf.RECEIPT, {"memo_id": memo.memo_id,
                                                                      "event_id": memo.event_id},
                                               parties=sorted({memo.party, self.own_party})))
        return posted

    @act
    def respond(self, memo_id: str, stances: Mapping[str, Mapping[str, str]], covering_text: str | None = None, *,
                attachments: Sequence[Path] = ()) -> Posted:
        """Give this party's official response (heads only).

        Raises:
            ForbiddenError: this member is not a head of delegation.
            InputError: unknown memorandum, bad stance, an attachment that is not a file or over the limit.
        """
        if self.client.profile.role != "head":
            raise ForbiddenError("only the head of delegation can give an official response")
        views = self.fresh_views()
        memo = views.memoranda.get(memo_id)
        if memo is None:
            raise NotFoundError(f"no memorandum '{memo_id}' to respond to")
        content = {"memo_id": memo_id, "stances": {k: dict(v) for k, v in stances.items()},
                   "covering_text": covering_text}
        return self._post_with_files(wf.RESPONSE, content, attachments,
                                     parties=sorted({memo.party, self.own_party, *memo.delivered_to}),
                                     authority="head")

    def comment(self, ref: str, text: str, parties: Sequence[str] | None = None) -> Posted:
        return self._post(wf.COMMENT, {"ref": ref, "text": text}, parties=parties)

    def redline(self, memo_id: str, old_version: int | str, new_version: int | str) -> str:
        """The changes between two versions: delivered (``2``) or, for the author's party, drafts (``"d1"``), in
        any combination (``wf.version_label``). Invisible tracing marks are removed first.

        Raises:
            NotFoundError: an unknown memorandum or version.  InputError: a malformed version.
        """
        from parley.tracing import unmark

        views = self.views()
        texts = wf.memo_texts(views, memo_id)
        old, new = wf.version_label(old_version, views, memo_id), wf.version_label(new_version, views, memo_id)
        for label, asked in ((old, old_version), (new, new_version)):
            if label not in texts:
                raise NotFoundError(f"memorandum '{memo_id}' has no version {asked} that you can read")
        canonical = self.canonical_versions(memo_id)

        def plain(label: str) -> dict[str, str]:
            if texts[label]["kind"] == "delivered" and int(label) in canonical:
                return canonical[int(label)]
            return {k: unmark(v) for k, v in texts[label]["positions"].items()}

        return wf.redline(plain(old), plain(new))

    def canonical_versions(self, memo_id: str) -> dict[int, dict[str, str]]:
        """The canonical positions of each version this party delivered (every reader's copy, the author's own
        included, is worded differently for leak tracing; the tracing record keeps the canonical text), so the
        author's redline compares texts, not wordings. Empty for another party's memorandum."""
        from parley.client.tracing import SEPARATOR

        out = {}
        for secret in self.tracing_secrets():
            if secret.document_id != memo_id or secret.version is None:
                continue
            order, parts = secret.order or [], (secret.canonical or "").split(SEPARATOR)
            if len(order) == len(parts):
                out[secret.version] = dict(zip(order, parts, strict=True))
        return out

    # ---- meetings ---------------------------------------------------------------------------------
    def propose_meeting(self, *, venue: str, start: datetime, end: datetime, timezone: str, level: str,
                        parties: Sequence[str], agenda: Sequence[str] = (), participants: Sequence[str] = (),
                        answer_by: datetime | None = None, attachments: Sequence[Path] = ()) -> str:
        """Propose a meeting; returns its id.

        Raises:
            InputError: no invited party, no venue, an end not after the start, an unknown time zone, level or
                agenda issue (the same check as a counter-proposal's, ``wf.check_meeting_terms``).
        """
        if not parties:
            raise InputError("invite at least one other party to the meeting")
        meeting_id = new_id("meeting")
        terms = wf.meeting_terms(venue=venue, start=start, end=end, timezone=timezone)
        deadline = None if answer_by is None else format_time(answer_by)
        check_deadline(deadline, now=self.client.clock(), what="answer-by deadline")
        self._post_with_files(wf.MEETING_PROPOSE, {"meeting_id": meeting_id, **terms, "level": level,
                                                   "agenda": list(agenda), "participants": list(participants),
                                                   **({"answer_by": deadline} if deadline else {})},
                              attachments, parties=sorted({self.own_party, *parties}))
        return meeting_id

    @act
    def answer_meeting(self, meeting_id: str, answer: str, *, note: str | None = None,
                       counter: Mapping[str, Any] | None = None) -> Posted:
        """Accept, decline or counter a proposed meeting; ``counter`` is ``wf.meeting_terms(...)`` for a
        counter-proposal (venue, start, end, time zone), checked exactly as a proposal is.

        Raises:
            InputError: unknown meeting or answer, a counter without terms or terms without a counter, or terms
                that a proposal would fail with.
        """
        views = self.fresh_views()
        meeting = views.meetings.get(meeting_id)
        if meeting is None:
            raise NotFoundError(f"no meeting '{meeting_id}' to answer")
        content = {"meeting_id": meeting_id, "answer": answer, "note": note, "counter": dict(counter) if counter else None}
        return self._post(wf.MEETING_RESPOND, content, parties=sorted({meeting.proposed_by, *meeting.invited}))

    def ics(self, meeting_id: str) -> bytes:
        """The iCalendar file of a meeting that every invited party accepted (then or since).

        One entry per meeting, kept up to date: the same UID every time, SEQUENCE the number of answers so
        far, so importing the file again replaces the earlier entry. Times are in the venue's time zone
        (with its VTIMEZONE). Accepted: METHOD:REQUEST, STATUS:CONFIRMED; declined since: METHOD:CANCEL,
        STATUS:CANCELLED; a counter-proposal since: STATUS:TENTATIVE.

        Raises:
            NotFoundError: no such meeting.  InputError: no invited party accepted it yet.
        """
        meeting = self.views().meetings.get(meeting_id)
        if meeting is None:
            raise NotFoundError(f"no meeting '{meeting_id}'")
        status = wf.meeting_status(meeting)
        if status != "accepted" and not meeting.was_accepted:
            raise InputError(f"only meetings every invited party accepted go to a calendar (this one: {status})")
        method, entry_status = {"accepted": ("REQUEST", "CONFIRMED"),
                                "declined": ("CANCEL", "CANCELLED")}.get(status, ("REQUEST", "TENTATIVE"))
        from icalendar import Calendar, Event, vCalAddress  # only calendar exports need it

        venue_zone = ZoneInfo(meeting.timezone or "UTC")
        names = self.party_names()
        calendar = Calendar()
        calendar.add("prodid", "-//parley//negotiation meetings//EN")
        calendar.add("version", "2.0")
        calendar.add("method", method)
        event = Event()
        event.add("uid", f"{meeting_id}@{self.id}.parley")
        event.add("sequence", meeting.revision)
        event.add("status", entry_status)
        event.add("summary", f"{meeting.level.capitalize()}-level meeting: "
                             + ", ".join(names.get(p, p) for p in [meeting.proposed_by, *meeting.invited]))
        event.add("location", meeting.venue)
        event.add("dtstart", parse_time(meeting.start).astimezone(venue_zone))
        event.add("dtend", parse_time(meeting.end).astimezone(venue_zone))
        event.add("dtstamp", parse_time(meeting.changed_at or meeting.proposed_at))
        organizer = vCalAddress(f"urn:parley:party:{meeting.proposed_by}")
        organizer.params["cn"] = names.get(meeting.proposed_by, meeting.proposed_by)
        event.add("organizer", organizer)
        description = {"CONFIRMED": "Accepted by every invited party.",
                       "CANCELLED": "Declined since: this meeting will not take place as planned.",
                       "TENTATIVE": "A counter-proposal was made since: the terms are being negotiated."}
        event.add("description", f"{description[entry_status]} Confidential.")
        event.add("class", "CONFIDENTIAL")
        calendar.add_component(event)
        calendar.add_missing_timezones()
        return calendar.to_ical()

    # ---- channels ---------------------------------------------------------------------------------
    def open_channel(self, name: str, parties: Sequence[str]) -> str:
        channel_id = new_id("channel")
        self._post(wf.CHANNEL_OPEN, {"channel_id": channel_id, "name": name},
                   parties=sorted({self.own_party, *parties}))
        return channel_id

    @act
    def channel_message(self, channel_id: str, text: str, *, attachments: Sequence[Path] = ()) -> Posted:
        """Raises: NotFoundError: no such channel.  InputError: an empty message, a bad attachment."""
        channel = self.fresh_views().channels.get(channel_id)
        if channel is None:
            raise NotFoundError(f"no channel '{channel_id}' (or this member cannot read it)")
        return self._post_with_files(wf.CHANNEL_MESSAGE, {"channel_id": channel_id, "text": text}, attachments,
                                     parties=channel.parties)

    # ---- status -----------------------------------------------------------------------------------
    def deadlines(self, now: datetime | None = None, views: wf.Views | None = None) -> list[dict[str, Any]]:
        """Official responses, meeting answers and signatures awaited with a deadline, most urgent first, with
        party names and ``awaiting_you`` (this member's party is the one awaited). From the local verified copy."""
        now = now or self.client.clock()
        views = views or self.views()
        agreements = self.agreements()
        names = self.party_names()
        rows = pending_deadlines(views, agreements, self.client.state(self.id).joined_parties(), now)
        return [{"negotiation_id": self.id, **row, "asked_by": names.get(row["asked_by"], row["asked_by"]),
                 "awaiting": names.get(row["awaiting"], row["awaiting"]),
                 "awaiting_you": row["awaiting"] == self.own_party} for row in rows]

    def status(self, now: datetime | None = None, language: str | None = None) -> dict[str, Any]:
        """Every derived view, with party names, as one JSON-ready document; the positions matrix in
        ``language`` where memoranda have a text in it."""
        now = now or self.client.clock()
        views = self.views()
        names = self.party_names()
        state = self.client.state(self.id)

        def name(pid: str) -> str:
            return names.get(pid, pid)

        awaiting = [{**row, "from": name(row["from"]), "awaiting": name(row["awaiting"])}
                    for row in wf.awaiting_responses(views, now)]
        rounds = self.rounds(views)
        matrix = wf.positions_matrix(views, state.joined_parties(), language)
        matrix = {**matrix, "parties": [name(p) for p in matrix["parties"]],
                  "issues": [{**row, "cells": {name(p): cell for p, cell in row["cells"].items()}}
                             for row in matrix["issues"]]}
        meetings = [{**m, "proposed_by": name(m["proposed_by"]), "invited": [name(p) for p in m["invited"]],
                     "answers": {name(p): a for p, a in m["answers"].items()}} for m in wf.calendar(views)]
        memoranda = [{"memo_id": m.memo_id, "title": m.title, "from": name(m.party), "version": m.version,
                      "delivered_at": m.delivered_at, "to": [name(p) for p in m.delivered_to],
                      "receipts": {name(p): r.at for p, r in m.receipts.items()},
                      "responses": {name(p): {"at": r.at, "stances": plain_view(r.stances), "number": r.number}
                                    for p, r in m.responses.items()},
                      "response_history": {name(p): [{"at": r.at, "by": r.by, "number": r.number,
                                                      "stances": plain_view(r.stances), "covering_text": r.covering_text,
                                                      "replaces": r.replaces} for r in history]
                                           for p, history in m.response_history.items()},
                      "restricted_sections": sorted(m.restricted)} for m in views.memoranda.values()]
        return {
            "negotiation_id": self.id, "title": None if views.title is None else views.title.title,
            "as_of": format_time(now), "log_size": state.size,
            "parties": [{"name": name(p), "status": state.parties[p].status} for p in sorted(state.parties, key=name)],
            "issues": [{"issue_id": k, **plain_view(v), "status": wf.issue_status(views, k), "added_by": name(v.added_by)}
                       for k, v in views.issues.items()],
            "rounds": rounds,
            "current_round": next((r for r in rounds if r["current"]), None),
            "memoranda": memoranda,
            "awaiting_official_response": awaiting,
            "deadlines": self.deadlines(now, views),
            "positions_matrix": matrix,
            "meetings": meetings,
            "channels": [{"channel_id": c.channel_id, "name": c.name, "parties": [name(p) for p in c.parties],
                          "messages": len(c.messages)} for c in views.channels.values()],
            "timeline": [{"seq": t["seq"], "created": t["created"], "author": t["author"], "party": t["party"],
                          "type": t["type"] or "(sealed to others)"} for t in self.client.timeline(self.id)],
            "violations": views.violations,
        }


_WORKFLOW_TYPES = frozenset({
    wf.ISSUE_ADD, wf.ISSUE_RENAME, wf.ISSUE_CLOSE, wf.ROUND_OPEN, wf.ROUND_CLOSE, wf.ROUND_LINK, wf.MEMO_DRAFT,
    wf.MEMO_DELIVER,
    wf.MEMO_RESTRICTED, wf.RECEIPT, wf.RESPONSE, wf.COMMENT, wf.MEETING_PROPOSE, wf.MEETING_RESPOND,
    wf.CHANNEL_OPEN, wf.CHANNEL_MESSAGE, wf.MESSAGE, wf.TITLE,
})


def due_everywhere(client: Client, now: datetime | None = None, *, mine: bool = False) -> list[dict[str, Any]]:
    """Deadlines of every negotiation this party takes part in (each synced with full verification first),
    most urgent first; ``mine``: only those awaiting this member's party."""
    now = now or client.clock()
    rows = []
    for item in client.negotiations():
        negotiation = Negotiation(client, item["negotiation_id"])
        negotiation.sync(receipts=False)  # a read: it posts nothing
        rows.extend(r for r in negotiation.deadlines(now) if r["awaiting_you"] or not mine)
    return sorted(rows, key=lambda r: (r["due"], r["negotiation_id"], r["ref"], r["awaiting"]))
