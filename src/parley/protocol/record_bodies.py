"""Typed declarations of the encrypted bodies no fold reads, each device reading them for itself: the history
grants (``history.grant``, ``parley.client.grants``) and the tracing records (``tracing.secret`` and the
``tracing`` record a traced delivery or text version carries to the tracing holders, ``parley.client.tracing``).

The same style as ``parley.protocol.bodies``: the declaration is the shape check (``decode_record``, an
``InputError`` naming the field), the readers read the typed object, and ``record_schemas`` gives the JSON
Schemas. Fields a reader does not know are ignored. The wire form does not change.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

from msgspec import Meta, Struct

from parley.errors import InputError
from parley.protocol.bodies import convert_declared, schemas_of


class RecordBody(Struct, frozen=True, kw_only=True, omit_defaults=True):
    what: ClassVar[str] = "record"


# ---- history grants ----------------------------------------------------------------------------------------------
class GrantedEvent(RecordBody, frozen=True):
    """One earlier event a grant carries: its position and id in the log, and its decrypted body."""

    what: ClassVar[str] = "granted event"
    seq: Annotated[int, Meta(ge=0, description="the event's position in the log")]
    event_id: Annotated[str, Meta(description="the event's id")]
    type: Annotated[str, Meta(description="the event's type")]
    content: Annotated[Any, Meta(description="the event's decrypted content")]
    header: Annotated[dict[str, Any] | None, Meta(
        description="the event's signed header, for a grantee whose party was outside its audience (it holds "
                    "only the event's hidden entry)")] = None
    signature: Annotated[str | None, Meta(description="the author's signature of that header")] = None


class HistoryGrant(RecordBody, frozen=True):
    """Earlier events re-encrypted to new devices; each item is checked on its own (``decode_record`` of a
    ``GrantedEvent``): one malformed item is refused, the others still apply."""

    what: ClassVar[str] = "history grant"
    grants: Annotated[list[Any], Meta(description="a list of granted events")]


# ---- tracing records ---------------------------------------------------------------------------------------------
Recipients = Annotated[dict[str, Any], Meta(description="each recipient device's member, party and "
                                                                   "copy number, by device key id")]


class TracingRecord(RecordBody, frozen=True):
    """What a tracing holder keeps of a traced document: its secret, to trace a leak back to a recipient."""

    what: ClassVar[str] = "tracing record"
    document_id: Annotated[str, Meta(description="the traced document's id")]
    secret: Annotated[str, Meta(description="the tracing secret (its JSON)")]
    recipients: Recipients
    version: int | None = None
    #: a memorandum's: its canonical text, its traced text (absent in older records), the positions' order
    canonical: Annotated[str, Meta(description="the canonical text")] | None = None
    document: Annotated[dict[str, Any], Meta(description="the traced text (an object)")] | None = None
    order: Annotated[list[str], Meta(description="the key issues' order")] | None = None
    #: an agreement version's (``kind`` "agreement-draft"): its traced text in each language
    kind: str | None = None
    agreement_id: str | None = None
    drafts: Annotated[dict[str, dict[str, Any]], Meta(description="each language's traced text (objects)")] | None = None
    #: a trace's report of an agreement (not in a log): every version traced at once
    versions: list[int] | None = None


#: what each record is, by event type (``tracing.record`` names the record a traced body carries inside it)
RECORD_MODELS: dict[str, type[RecordBody]] = {
    "history.grant": HistoryGrant, "history.grant/item": GrantedEvent, "tracing.secret": TracingRecord,
}


def decode_record(model: type[RecordBody], content: Any) -> Any:
    """``content`` read as ``model``, its shape checked against the declaration.

    Raises:
        InputError: content that is not an object, or a field missing or not matching its declaration.
    """
    if not isinstance(content, Mapping):
        raise InputError(f"a {model.what} must be an object")
    return convert_declared(model, content)


def record_schemas() -> dict[str, Any]:
    """The JSON Schema of every record, by event type (one ``$defs`` shared by all)."""
    return schemas_of(RECORD_MODELS)


__all__ = ["GrantedEvent", "HistoryGrant", "RECORD_MODELS", "TracingRecord", "decode_record", "record_schemas"]
