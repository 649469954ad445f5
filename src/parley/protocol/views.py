"""The typed values the folds build (``workflow.derive_views``, ``agreement.derive_agreements``): one declaration
per kind of view.

The fold creates and updates these records (they are mutable for that reason); the client, the CLI and the web UI
read their attributes. Where a view leaves for a person or a program (``--json``, an export, a page's data),
``plain`` turns it into the lists and dicts it always was: the field order below is that JSON's key order.

Values copied from an event's body as they were signed (stances, attachments, a counter-proposal's terms) keep
their body types (``parley.protocol.bodies``).
"""

from __future__ import annotations

from typing import Any

import msgspec

from parley.protocol.bodies import Annex, Article, Attachment, MeetingTerms, Stance


class View(msgspec.Struct):
    """A record of a derived view (each declares its fields keyword-only: the order is the JSON key order)."""


def plain(value: Any) -> Any:
    """A view (or a collection of views) as the plain lists and dicts its JSON form has."""
    return msgspec.to_builtins(value)


# ---- agenda, rounds ------------------------------------------------------------------------------------------
class IssueView(View, kw_only=True):
    """A key issue on the agenda."""

    title: str
    #: ``open`` or ``closed`` as the agenda says (``workflow.issue_status`` also tells ``agreed``)
    status: str = "open"
    added_by: str
    since: str


class HeldItem(View, kw_only=True, omit_defaults=True):
    """Something a round holds: posted while it was open (``how="posted"``) or linked to it (``"linked"``)."""

    kind: str
    ref: str
    party: str
    at: str
    seq: int
    how: str
    #: the memorandum version, for a memorandum delivered while the round was open
    version: int | None = None


class RoundView(View, kw_only=True):
    round_id: str
    number: int
    venue: str
    starts: str
    ends: str | None
    meeting_id: str | None
    agenda: list[str]
    outcome: str | None = None
    status: str = "open"
    opened_by: str
    opened_at: str
    opened_seq: int
    closed_by: str | None = None
    closed_at: str | None = None
    closed_seq: int | None = None
    held: list[HeldItem] = []


# ---- memoranda -----------------------------------------------------------------------------------------------
class DraftView(View, kw_only=True):
    """One draft version of a memorandum, readable by its own party only."""

    version: int
    title: str
    positions: dict[str, str]
    at: str
    party: str
    by: str
    event_id: str
    attachments: list[Attachment] = []


class MemoVersion(View, kw_only=True):
    """One delivered version of a memorandum; ``from_draft``: the draft version it was made from (known to the
    author's party only)."""

    version: int
    positions: dict[str, str]
    at: str
    title: str
    from_draft: int | None = None


class ReceiptView(View, kw_only=True):
    at: str
    by: str
    event_id: str


class ResponseView(View, kw_only=True):
    """One official response of a party to a memorandum; ``number`` counts the party's responses to it and
    ``replaces`` is the time of the one it replaced."""

    at: str
    by: str
    #: issue id -> the stance as signed
    stances: dict[str, Stance]
    covering_text: str | None = None
    version: int
    number: int
    replaces: str | None = None
    seq: int
    attachments: list[Attachment] = []


class CommentView(View, kw_only=True):
    at: str
    by: str
    party: str
    text: str


class MemorandumView(View, kw_only=True):
    """A delivered memorandum as of its latest version, with receipts, responses and comments."""

    memo_id: str
    party: str
    versions: list[MemoVersion] = []
    receipts: dict[str, ReceiptView] = {}
    #: each party's latest official response; ``response_history`` keeps every one
    responses: dict[str, ResponseView] = {}
    response_history: dict[str, list[ResponseView]] = {}
    #: issue id -> text of the head-only sections (only heads can read them)
    restricted: dict[str, str] = {}
    comments: list[CommentView] = []
    title: str
    positions: dict[str, str]
    version: int
    delivered_at: str
    delivered_to: list[str]
    respond_by: str | None = None
    event_id: str
    attachments: list[Attachment] = []
    copy: str | None = None
    from_draft: int | None = None
    languages: list[str]
    prevailing: str | None = None
    #: language -> ``{"title", "positions"}``, the first language first
    texts: dict[str, dict[str, Any]] = {}


# ---- meetings, channels, title ---------------------------------------------------------------------------------
class MeetingAnswerView(View, kw_only=True):
    answer: str
    at: str
    by: str
    #: a counter-proposal's venue and times, as signed
    counter: MeetingTerms | None = None
    note: str | None = None


class MeetingView(View, kw_only=True):
    meeting_id: str
    proposed_by: str
    venue: str
    start: str
    end: str
    timezone: str
    level: str
    agenda: list[str] = []
    participants: list[str] = []
    invited: list[str] = []
    answers: dict[str, MeetingAnswerView] = {}
    proposed_at: str
    answer_by: str | None = None
    #: calendar entries: every answer is a new revision (iCalendar SEQUENCE) of the same meeting
    revision: int = 0
    changed_at: str
    was_accepted: bool = False
    attachments: list[Attachment] = []


class ChannelMessageView(View, kw_only=True):
    seq: int
    at: str
    by: str
    party: str
    text: str
    attachments: list[Attachment] = []


class ChannelView(View, kw_only=True):
    channel_id: str
    name: str
    parties: list[str]
    opened_by: str
    messages: list[ChannelMessageView] = []


class TitleView(View, kw_only=True):
    """The negotiation's latest title, who set it, when, and which parties it was encrypted to."""

    title: str
    party: str
    at: str
    audience: list[str]


# ---- the agreement (``agreement.AgreementView``) -----------------------------------------------------------------
class LanguageText(View, kw_only=True):
    """One language's text of an agreement version: its title and articles as posted, the canonical text (title and
    articles, un-marked) and that text's SHA-256."""

    title: str
    articles: list[Article]
    text: str
    sha256: str


class AnnexCopy(View, kw_only=True):
    """A reader's own (stamped) copy of a PDF annex: the size and SHA-256 of the bytes it received."""

    size: int
    sha256: str


class AgreementVersion(View, kw_only=True, omit_defaults=True):
    """One version of the single negotiating text.

    The fields without a default are in every version's JSON form (``prevailing`` and ``copy`` as null when unset);
    the others only for a version in per-reader wording (``worded``, ``canonical_sha256``; after finalize also
    ``copy_text``, ``copy_articles``, ``copy_texts``: the reader's own wording) or with stamped PDF annexes
    (``annex_copies``, until finalize names the canonical bytes)."""

    languages: list[str]
    prevailing: str | None
    #: language -> its text, the first language first
    texts: dict[str, LanguageText]
    authenticity: str
    version: int
    title: str
    #: the articles as this reader received them (with tracing marks, or in its own wording)
    articles: list[Article]
    #: the canonical text of the first language (un-marked), and its SHA-256 (the one finalize names)
    text: str
    sha256: str
    at: str
    copy: str | None
    seq: int
    annexes: list[Annex]
    #: per-reader wording: whether this reader's words differ from the canonical text
    worded: bool | None = None
    #: per-reader wording: the canonical text's SHA-256 in each language
    canonical_sha256: dict[str, str] | None = None
    #: stamped PDF annexes: this reader's copies, by attachment id
    annex_copies: dict[str, AnnexCopy] | None = None
    copy_text: str | None = None
    copy_articles: list[Article] | None = None
    #: language -> the reader's own wording of that language's text
    copy_texts: dict[str, str] | None = None


class ObjectionView(View, kw_only=True):
    """An objection (or comment) of a party to an article of a text version; ``language`` None: every language."""

    version: int
    article: int
    #: ``objection`` or ``comment`` (a withdrawal removes the party's objection instead)
    kind: str
    language: str | None = None
    party: str
    by: str
    text: str | None = None
    at: str


class FinalizedView(View, kw_only=True):
    """The finalized version: the SHA-256 every head signs, and the override that finalized it over objections."""

    sha256: str
    version: int
    at: str
    sign_by: str | None = None
    override: bool = False
    reason: str | None = None
    #: the articles that had open objections when the text was finalized
    open_objections: list[int] = []


class SignatureView(View, kw_only=True):
    """A head's signature that verified under the certified key of the device that made it."""

    signature: str
    public_key: str
    device: str
    by: str
    at: str
    event_id: str
    seq: int
    #: a text in several languages: the signature of every other language's text, by language code
    languages: dict[str, str] = {}


class ConsentView(View, kw_only=True):
    """A head's consent to release, verified as a signature is."""

    consent: str
    public_key: str
    device: str
    by: str
    at: str


__all__ = ["AgreementVersion", "AnnexCopy", "ChannelMessageView", "ChannelView", "CommentView", "ConsentView",
           "DraftView", "FinalizedView", "HeldItem", "IssueView", "LanguageText", "MeetingAnswerView", "MeetingView",
           "MemoVersion", "MemorandumView", "ObjectionView", "ReceiptView", "ResponseView", "RoundView",
           "SignatureView", "TitleView", "View", "plain"]
