"""One typed declaration per body kind: the decrypted content of each encrypted event type.

Each ``msgspec.Struct`` below is the single statement of what a kind's content holds. From it come:

- the shape check on decode (``decode_content``): a field of the wrong type, missing, out of range or not
  matching its pattern is refused with ``InputError``, whose message is built from the field's declared
  ``description`` ("'issue_id' must be an identifier (letters, digits, - _ .)");
- the typed object the folds, views and screens read (``body.memo_id``, not ``content["memo_id"]``);
- the JSON Schema of each kind (``body_schemas``).

Rules that relate a body to others (a response to a known memorandum, a meeting answer to a known meeting),
to its author (head authority) or to time (a deadline after the event) stay in the folds
(``parley.protocol.workflow``, ``agreement``, ``trust``), and so do checks across fields that need the
protocol's own helpers (a meeting's interval and time zone, parallel texts in several languages, the
canonical agreement text).

The wire form does not change: a body is still signed and carried as the canonical JSON its author wrote;
these types only read it. Fields a reader does not know are ignored (an older client reading a newer body),
as the hand-written checks did.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from functools import cache
from types import UnionType
from typing import Annotated, Any, ClassVar, Literal, Union, get_args, get_origin, get_type_hints

import msgspec
from msgspec import Meta, Struct

from parley.errors import InputError

# ---- field types: each names what it must be (used in the refusal message) ------------------------------
Ident = Annotated[str, Meta(pattern=r"^[\w.-]{1,64}\Z", description="an identifier (letters, digits, - _ .)")]
#: agreement ids are named in what heads sign: ASCII only
AgreementId = Annotated[str, Meta(pattern=r"^[A-Za-z0-9._-]{1,64}\Z",
                                  description="an identifier (letters, digits, - _ .)")]
Text = Annotated[str, Meta(pattern=r"\S", max_length=1_000_000, description="non-empty text")]
Title = Annotated[str, Meta(pattern=r"\S", max_length=300, description="non-empty text (at most 300 characters)")]
Venue = Annotated[str, Meta(pattern=r"\S", max_length=300, description="non-empty text (at most 300 characters)",
                            extra={"refusal": "a {what} needs a venue (non-empty text, at most 300 characters)"})]
Name = Annotated[str, Meta(pattern=r"\S", max_length=200, description="non-empty text (at most 200 characters)")]
Outcome = Annotated[str, Meta(pattern=r"\S", max_length=20_000,
                              description="non-empty text (at most 20000 characters)")]
Ref = Annotated[str, Meta(pattern=r"\S", max_length=100, description="non-empty text (at most 100 characters)")]
#: a time in the signed form; its exact form is checked by ``parley.protocol.times.parse_time`` in the folds
Time = Annotated[str, Meta(description="a time such as 2025-06-02T10:00:00Z")]
Version = Annotated[int, Meta(ge=1, description="a number from 1")]
Sha256 = Annotated[str, Meta(pattern=r"^[0-9a-f]{64}\Z", description="64 lowercase hex digits (a SHA-256)")]
#: the text's SHA-256 as agreement acts name it (length only, as it always was checked)
TextSha256 = Annotated[str, Meta(min_length=64, max_length=64, description="the SHA-256 of the canonical text")]
Positions = Annotated[dict[str, Text], Meta(min_length=1, description="at least one position on a key issue, "
                                                                      "each non-empty text")]
Sections = Annotated[dict[str, Text], Meta(min_length=1, description="restricted sections mapping key issues "
                                                                     "to text")]
FileName = Annotated[str, Meta(pattern=r"^[^/\\\n]*\S[^/\\\n]*\Z", description="a plain file name")]
Size = Annotated[int, Meta(ge=0, description="a number of bytes")]


class Body(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The content of one encrypted event. ``what`` names its kind in messages."""

    what: ClassVar[str] = "event"
    #: refuse an ``attachments`` field this kind does not declare (the workflow's kinds; the others ignore it)
    files_refused: ClassVar[bool] = True


# ---- files -------------------------------------------------------------------------------------------------
class Attachment(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A file an event declares, what a reader checks the reassembled file against."""

    attachment_id: Annotated[str, Meta(description="the attachment's id")]
    name: FileName
    size: Size
    sha256: Sha256
    chunks: Annotated[int, Meta(ge=1, description="a chunk count from 1")]
    #: a copy stamped with the reader's tracing marks (one per device)
    stamped: bool | None = None


Attachments = Annotated[list[Attachment], Meta(max_length=100, description="a list of at most 100 files")]


class AttachmentChunk(Body, frozen=True):
    """One piece of a file, in log order (``index`` from 0); ``data`` is base64, checked as the file is saved."""

    what: ClassVar[str] = "file chunk"
    attachment_id: Annotated[str, Meta(description="the attachment's id")]
    index: Annotated[int, Meta(ge=0, description="a chunk number from 0")]
    total: Annotated[int, Meta(ge=1, description="a chunk count from 1")]
    data: str = ""


# ---- agenda, rounds ----------------------------------------------------------------------------------------
class IssueAdd(Body, frozen=True):
    what: ClassVar[str] = "key issue"
    issue_id: Ident
    title: Title


class IssueRename(IssueAdd, frozen=True):
    pass


class IssueClose(Body, frozen=True):
    what: ClassVar[str] = "key issue"
    issue_id: Ident


class RoundOpen(Body, frozen=True):
    what: ClassVar[str] = "round"
    round_id: Ident
    number: Annotated[int, Meta(ge=1, description="a round number from 1")]
    venue: Title
    starts: Time
    ends: Time | None = None
    meeting_id: Ident | None = None
    agenda: Annotated[list[str], Meta(description="a list of key issue ids")] = []


class RoundClose(Body, frozen=True):
    what: ClassVar[str] = "round"
    round_id: Ident
    outcome: Outcome


class RoundLink(Body, frozen=True):
    what: ClassVar[str] = "round link"
    round_id: Ident
    kind: Annotated[Literal["memorandum", "meeting", "agreement"],
                    Meta(description="one of: memorandum, meeting, agreement",
                         extra={"refusal": "'kind': a round is linked to one of: memorandum, meeting, agreement"})]
    ref: Ident


# ---- memoranda, receipts, responses, comments ----------------------------------------------------------------
class MemoText(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A memorandum's text in another language."""

    positions: Positions
    title: str | None = None


class Memorandum(Body, frozen=True):
    """A delivered memorandum (``memorandum.deliver``) or a party's own draft of one (``memorandum.draft``)."""

    what: ClassVar[str] = "memorandum"
    memo_id: Ident
    title: Title
    version: Version
    positions: Positions
    respond_by: Time | None = None
    languages: list[str] | None = None
    texts: dict[str, MemoText] | None = None
    prevailing: str | None = None
    copy: Annotated[str | None, Meta(description="text (the visible copy line)")] = None
    restricted: Sections | None = None
    attachments: Attachments = []


class MemoRestricted(Body, frozen=True):
    what: ClassVar[str] = "restricted sections"
    memo_id: Ident
    sections: Sections


class Receipt(Body, frozen=True):
    what: ClassVar[str] = "receipt"
    memo_id: Ident
    event_id: Annotated[str, Meta(description="the id of the event it acknowledges")]


class Stance(Struct, frozen=True, kw_only=True, omit_defaults=True):
    stance: Literal["accept", "reject", "counter", "take-note", "reserve"]
    text: str | None = None


class Response(Body, frozen=True):
    what: ClassVar[str] = "official response"
    memo_id: Ident
    stances: Annotated[dict[str, Stance], Meta(min_length=1, description="a stance on at least one key issue "
                                                                         "(accept, reject, counter, take-note, "
                                                                         "reserve)")]
    covering_text: Text | None = None
    attachments: Attachments = []


class Comment(Body, frozen=True):
    what: ClassVar[str] = "comment"
    ref: Ref
    text: Text


# ---- meetings ------------------------------------------------------------------------------------------------
class MeetingTerms(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A counter-proposal's venue and times; ``timezone`` absent in those written before it was carried."""

    what: ClassVar[str] = "counter-proposal"
    venue: Venue
    start: Time
    end: Time
    timezone: str | None = None


class MeetingProposal(Body, frozen=True):
    what: ClassVar[str] = "meeting"
    meeting_id: Ident
    venue: Venue
    start: Time
    end: Time
    timezone: Annotated[str, Meta(description="an IANA time zone name such as Europe/Istanbul")]
    level: Annotated[Literal["delegation", "ministerial", "leaders"],
                     Meta(description="one of delegation, ministerial, leaders")]
    agenda: Annotated[list[str], Meta(description="a list of key issue ids")] = []
    participants: list[str] = []
    answer_by: Time | None = None
    attachments: Attachments = []


class MeetingAnswer(Body, frozen=True):
    what: ClassVar[str] = "meeting answer"
    meeting_id: Ident
    answer: Annotated[Literal["accept", "decline", "counter"], Meta(description="one of accept, decline, counter")]
    counter: MeetingTerms | None = None
    note: str | None = None


# ---- channels, messages, title --------------------------------------------------------------------------------
class ChannelOpen(Body, frozen=True):
    what: ClassVar[str] = "channel"
    channel_id: Ident
    name: Name


class ChannelMessage(Body, frozen=True):
    what: ClassVar[str] = "channel message"
    channel_id: Ident
    text: Text
    attachments: Attachments = []


class Message(Body, frozen=True):
    what: ClassVar[str] = "message"
    text: Text


class NegotiationTitle(Body, frozen=True):
    what: ClassVar[str] = "title"
    title: Title


# ---- the agreement -------------------------------------------------------------------------------------------
class Article(Struct, frozen=True, kw_only=True, omit_defaults=True):
    number: Annotated[int, Meta(description="an article number")]
    heading: Annotated[str, Meta(description="a one-line heading")]
    text: Annotated[str, Meta(description="the article's text")]


class Annex(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """An annex of a text version: signed by name, size and SHA-256; ``attachment_id`` names its file."""

    name: Annotated[str, Meta(description="a plain file name")]
    size: Size
    sha256: Sha256
    attachment_id: str | None = None
    #: the annex's file in the log, as ``Attachment`` declares it
    chunks: int | None = None
    stamped: bool | None = None


class AgreementLanguageText(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A text version's title and articles in another language."""

    title: str = ""
    articles: list[Article] = []


class AgreementBody(Body, frozen=True):
    what: ClassVar[str] = "agreement event"
    files_refused: ClassVar[bool] = False
    agreement_id: AgreementId


class AgreementText(AgreementBody, frozen=True):
    what: ClassVar[str] = "agreement text"
    version: Annotated[int, Meta(ge=1, description="a text version number from 1")]
    title: Annotated[str, Meta(description="a one-line title")]
    articles: list[Article]
    annexes: Annotated[list[Annex], Meta(max_length=100, description="a list of at most 100 files")] | None = None
    languages: list[str] | None = None
    texts: dict[str, AgreementLanguageText] | None = None
    prevailing: str | None = None
    copy: str | None = None
    #: a version delivered in per-reader wording: the canonical text's SHA-256 in each language
    canonical_sha256: Annotated[dict[str, str], Meta(description="the canonical text's SHA-256 in each "
                                                                 "language")] | None = None
    #: a version whose PDF annexes reach each reader stamped: this reader's copies, by attachment id
    annex_copies: Annotated[dict[str, dict[str, Any]], Meta(description="the reader's own copies of the "
                                                                        "stamped annexes")] | None = None


class Objection(AgreementBody, frozen=True):
    what: ClassVar[str] = "objection"
    kind: Annotated[Literal["objection", "comment", "withdraw"], Meta(description="objection, comment or withdraw",
                                                                   extra={"refusal": "kind must be objection, "
                                                                                     "comment or withdraw"})]
    version: Annotated[int, Meta(description="a version number")]
    article: Annotated[int, Meta(description="an article number")]
    language: str | None = None
    text: str | None = ""


class AgreementCanonical(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The canonical text a finalize reveals of a version delivered in per-reader wording (docs/tracing.md)."""

    title: str = ""
    articles: list[Article] = []
    texts: dict[str, AgreementLanguageText] | None = None


class Finalize(AgreementBody, frozen=True):
    what: ClassVar[str] = "finalize"
    text_sha256: TextSha256
    canonical: Annotated[AgreementCanonical, Meta(description="an object {title, articles[, texts]} (the "
                                                              "canonical text of a finalize)")] | None = None
    override: bool | None = None
    reason: str | None = None
    sign_by: Time | None = None
    #: a version whose PDF annexes reached each reader stamped: the canonical annexes, posted for every party
    annexes: Annotated[list[Annex], Meta(max_length=100, description="a list of at most 100 files")] | None = None


class Signature(AgreementBody, frozen=True):
    what: ClassVar[str] = "signature"
    text_sha256: TextSha256
    signature: str | None = None
    #: a text in several languages: every other language's signature, by language code
    signatures: dict[str, str] | None = None
    version: int | None = None


class ReleaseConsent(AgreementBody, frozen=True):
    what: ClassVar[str] = "release consent"
    text_sha256: TextSha256
    consent: str | None = None
    parties: list[str] | None = None
    version: int | None = None


# ---- trust -----------------------------------------------------------------------------------------------------
_TrustKey = Annotated[str, Meta(min_length=1, max_length=128, description="named (1 to 128 characters)")]


class TrustRecord(Body, frozen=True):
    what: ClassVar[str] = "trust record"
    files_refused: ClassVar[bool] = False
    party_id: _TrustKey
    root_key: _TrustKey
    verified: Annotated[bool, Meta(description="true or false")]


# ---- the deal-zone check (parley.protocol.zopa): the ciphertexts' own form is checked by the fold ------------
class ZopaBody(Body, frozen=True):
    what: ClassVar[str] = "deal-zone check"
    files_refused: ClassVar[bool] = False
    check_id: Ident


class ZopaOpen(ZopaBody, frozen=True):
    issue_id: Ident
    round_id: Ident
    parties: Annotated[list[str], Meta(description="a list of party ids")]
    split: str | None = None


class ZopaReply(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """An answer to an earlier party's bits: the blinded comparison, and the masked sum for a split."""

    blinded: Annotated[list[str], Meta(description="a list of ciphertexts")]
    sum: str | None = None


class ZopaCommit(ZopaBody, frozen=True):
    direction: Annotated[str, Meta(description="at-least or at-most")]
    split_consent: Annotated[bool, Meta(description="true or false (agrees to a split point)")]
    replies: Annotated[dict[str, ZopaReply], Meta(description="an answer to every earlier party of the check")]
    key: str | None = None
    bits: Annotated[list[str], Meta(description="a list of ciphertexts")] | None = None
    value: str | None = None


class ZopaReveal(ZopaBody, frozen=True):
    #: each 0 or 1: checked by the fold, after the order of the check (a reveal before every commit says so)
    shares: Annotated[dict[str, int], Meta(description="one share, 0 or 1, for every other party")]


class ZopaUnmask(ZopaBody, frozen=True):
    mask: Annotated[str, Meta(description="a decimal number")]


class ZopaSplit(ZopaBody, frozen=True):
    midpoint: Annotated[str, Meta(description="a whole number or one ending in .5")]


class ZopaAbort(ZopaBody, frozen=True):
    #: any value: a reason that is not text reads as none (as it always did)
    reason: Any = ""


#: event type -> the declaration of its content
MODELS: dict[str, type[Body]] = {
    "agenda.issue.add": IssueAdd, "agenda.issue.rename": IssueRename, "agenda.issue.close": IssueClose,
    "round.open": RoundOpen, "round.close": RoundClose, "round.link": RoundLink,
    "memorandum.draft": Memorandum, "memorandum.deliver": Memorandum, "memorandum.restricted": MemoRestricted,
    "receipt": Receipt, "response.official": Response, "comment": Comment,
    "meeting.propose": MeetingProposal, "meeting.respond": MeetingAnswer,
    "channel.open": ChannelOpen, "channel.message": ChannelMessage, "message": Message,
    "negotiation.title": NegotiationTitle,
    "agreement.text": AgreementText, "agreement.objection": Objection, "agreement.finalize": Finalize,
    "agreement.sign": Signature, "agreement.release": ReleaseConsent,
    "trust.verify": TrustRecord, "attachment.chunk": AttachmentChunk,
    "zopa.open": ZopaOpen, "zopa.commit": ZopaCommit, "zopa.reveal": ZopaReveal, "zopa.unmask": ZopaUnmask,
    "zopa.split": ZopaSplit, "zopa.abort": ZopaAbort,
}
#: the event types whose content may carry files (``attachments``): every act that carries a text
ATTACHING_TYPES = frozenset({"memorandum.draft", "memorandum.deliver", "response.official", "meeting.propose",
                             "channel.message"})


def decode_content(event_type: str, content: Any) -> Body:
    """The typed content of an event of ``event_type``, its shape checked against the declaration.

    Raises:
        InputError: an unknown event type, content that is not an object, or a field that is missing or does
            not match its declaration (the message names the field and what it must be).
    """
    model = MODELS.get(event_type)
    if model is None:
        raise InputError(f"unknown event type '{event_type}'")
    if not isinstance(content, Mapping):
        raise InputError("event content must be an object")
    if "attachments" in content and model.files_refused and "attachments" not in model.__struct_fields__:
        raise InputError(f"a {event_type} event carries no files")
    return convert_declared(model, content)


def convert_declared(model: type[Struct], content: Mapping[str, Any]) -> Any:
    """``content`` (an object) read as ``model``: the shape check every declaration derives (bodies, cleartext
    events, records).

    Raises:
        InputError: a field missing or not matching its declaration (the message names the field).
    """
    try:
        return msgspec.convert(content if isinstance(content, dict) else dict(content), type=model)
    except msgspec.ValidationError as exc:
        raise InputError(refusal(model, str(exc))) from None  # type: ignore[arg-type]


def schemas_of(models: Mapping[str, type[Struct]]) -> dict[str, Any]:
    """The JSON Schema of every model of ``models``, by event type (one ``$defs`` shared by all)."""
    types = sorted(models)
    schemas, definitions = msgspec.json.schema_components([models[t] for t in types], ref_template="#/$defs/{name}")
    return {"$defs": definitions, "types": dict(zip(types, schemas, strict=True))}


class StoredBody(Struct, frozen=True):
    """A decrypted body as stored: its type and its content's JSON, read as it was signed."""

    type: str
    content: msgspec.Raw


_STORED = msgspec.json.Decoder(StoredBody)
_DECODERS = {event_type: msgspec.json.Decoder(model) for event_type, model in MODELS.items()}


def decode_stored(text: str | bytes) -> tuple[str, Body | None, Mapping[str, Any]]:
    """A stored body read in one pass: (its type, its typed content, its content as a mapping).

    The typed content is None when the type has no declaration here, or when the content does not match it:
    the content is then a plain dict (``{}`` for content that is not an object), which ``decode_content``
    refuses with the reason. A typed body's mapping is decoded from its JSON only if a reader asks for it.

    Raises:
        InputError: not a stored body (not JSON, or no type).
    """
    try:
        stored = _STORED.decode(text)
    except msgspec.DecodeError:
        return _decode_slowly(text)  # JSON msgspec does not read (NaN, Infinity): as the sync parsed it
    decoder = _DECODERS.get(stored.type)
    if decoder is not None:
        try:
            body = decoder.decode(stored.content)
        except msgspec.DecodeError:  # a ValidationError too: the fold refuses it from the content, with the message
            body = None
        if body is not None and ("attachments" in body.__struct_fields__ or not body.files_refused
                                 or b'"attachments"' not in bytes(stored.content)):
            return stored.type, body, JsonContent(stored.content)
    try:
        content = msgspec.json.decode(stored.content)
    except msgspec.DecodeError:  # a number msgspec does not read (1e999)
        return _decode_slowly(text)
    return stored.type, None, content if isinstance(content, dict) else {}


def _decode_slowly(text: str | bytes) -> tuple[str, Body | None, Mapping[str, Any]]:
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        raise InputError("a stored body is not JSON") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
        raise InputError("a stored body is not {type, content}")
    content = obj.get("content")
    return obj["type"], None, content if isinstance(content, dict) else {}


class JsonContent(Mapping[str, Any]):
    """An event's content read from its JSON only when a reader asks for it as a mapping (the folds read the
    typed body instead). Content that is not a JSON object reads as an empty one."""

    __slots__ = ("_json", "_value")

    def __init__(self, raw: bytes | msgspec.Raw) -> None:
        self._json = raw
        self._value: dict[str, Any] | None = None

    def _decoded(self) -> dict[str, Any]:
        if self._value is None:
            try:
                value = msgspec.json.decode(self._json)
            except msgspec.DecodeError:  # a number msgspec does not read (1e999): as the sync parsed it
                value = json.loads(bytes(self._json))
            self._value = value if isinstance(value, dict) else {}
        return self._value

    def __getitem__(self, key: str) -> Any:
        return self._decoded()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._decoded())

    def __len__(self) -> int:
        return len(self._decoded())


_AT = re.compile(r"at `\$((?:\.[A-Za-z_]\w*|\[[^\]]*\])*)`")
_MISSING = re.compile(r"required field `([A-Za-z_]\w*)`")
_STEP = re.compile(r"\.([A-Za-z_]\w*)|\[[^\]]*\]")


def refusal(model: type[Body], error: str) -> str:
    """A human message for msgspec's shape ``error`` about ``model``: the field and what its declaration says it
    must be (its ``description``, or its ``refusal`` sentence), with msgspec's own words when the declaration
    describes only an enclosing field."""
    at = _AT.search(error)
    steps = [m.group(1) for m in _STEP.finditer(at.group(1) if at else "")]
    missing = _MISSING.search(error)
    if missing:
        steps.append(missing.group(1))
    owner: type = model
    hint: Any = model
    described: tuple[str, str] | None = None
    walked = 0
    label = ""
    for step in steps:
        inner = _unwrap(hint)
        if step is not None:
            if not (isinstance(inner, type) and issubclass(inner, Struct)) or step not in inner.__struct_fields__:
                break
            owner, hint = inner, _hints(inner)[step]
            label = f"{label}.{step}" if label else step
        else:
            args = get_args(inner)
            if get_origin(inner) is list and args:
                hint = args[0]
            elif get_origin(inner) is dict and len(args) == 2:
                hint = args[1]
            else:
                break
            label += "[]"
        walked += 1
        meta = _meta(hint)
        if meta is not None and step is not None:
            sentence = (meta.extra or {}).get("refusal")
            if sentence:
                described = (step, sentence.format(what=getattr(owner, "what", model.what)))
            elif meta.description:
                described = (step, f"{model.what}: '{label}' must be {meta.description}")
    if described is None:
        return f"{model.what}: {error}"
    field_name, message = described
    last_named = next((s for s in reversed(steps[:walked]) if s is not None), None)
    return message if walked == len(steps) and last_named == field_name else f"{message} ({error})"


@cache
def _hints(model: type) -> dict[str, Any]:
    return get_type_hints(model, include_extras=True)


def _unwrap(hint: Any) -> Any:
    """The type inside ``Annotated[...]`` and ``X | None``."""
    while True:
        if get_origin(hint) is Annotated:
            hint = get_args(hint)[0]
            continue
        args = [a for a in get_args(hint) if a is not type(None)]
        if get_origin(hint) in (Union, UnionType) and len(args) == 1:
            hint = args[0]
            continue
        return hint


def _meta(hint: Any) -> Meta | None:
    """The declared ``Meta`` of a field's type (inside ``X | None`` too)."""
    if get_origin(hint) is Annotated:
        return next((m for m in get_args(hint)[1:] if isinstance(m, Meta)), None)
    if get_origin(hint) in (Union, UnionType):
        return next((m for m in map(_meta, get_args(hint)) if m is not None), None)
    return None


def body_schemas() -> dict[str, Any]:
    """The JSON Schema of every body kind, by event type (one ``$defs`` shared by all)."""
    return schemas_of(MODELS)


__all__ = ["ATTACHING_TYPES", "MODELS", "Body", "JsonContent", "StoredBody", "body_schemas", "convert_declared",
           "decode_content", "decode_stored", "refusal", "schemas_of"]
