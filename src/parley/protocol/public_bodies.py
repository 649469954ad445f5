"""One typed declaration per cleartext event kind: the content of the public events the relay can read.

The same style as ``parley.protocol.bodies`` (the encrypted kinds): each ``msgspec.Struct`` states what a
kind's content holds, ``decode_public`` derives the shape check from it (``InputError`` naming the field and
what it must be), the rule book (``parley.protocol.state``, ``agreement.check_publication``) reads the typed
object, and ``public_schemas`` gives the JSON Schemas (docs/interop.md).

Two differences from the encrypted kinds, as the hand-written checks had them:

- a membership event (genesis, invite, join, leave, member add and remove, root rotation, public statement)
  holds exactly its declared fields: a field the declaration does not name is refused, since the relay
  checks these events and every field of them is public;
- the signed objects they carry (a party record, member certificates, a revocation, a root rotation) are
  declared as objects only: their own form and signatures are checked by ``parley.protocol.identity``,
  which reads them from the very mapping their signer signed. Their schemas name which object they are
  (``SIGNED_OBJECT_KEYWORD``), so that the relay's description refers them to its declarations of those
  objects (``parley.relay.schemas.PartyRecord`` and the others).

The publication (``agreement.publication``) ignores fields it does not know, as it always did (a newer
client's publication still reads). The wire form does not change: these types only read the signed JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

from msgspec import Meta, Struct

from parley.errors import InputError
from parley.protocol.bodies import convert_declared, schemas_of
from parley.protocol.identity import CERTIFICATE_TYPE, PARTY_RECORD_TYPE, REVOCATION_TYPE, ROTATION_TYPE

#: the JSON Schema keyword that names the signed object a field holds (its ``type``): a description in which these
#: objects are declared refers to that declaration (the relay's, ``parley.relay.openapi_bodies``)
SIGNED_OBJECT_KEYWORD = "x-parley-signed-object"


def _signed(object_type: str, description: str) -> Any:  # noqa: ANN401
    """A signed object checked by ``parley.protocol.identity`` (its fields and signature), here only its being
    one: the shape check stays an object's, its schema names which object it is."""
    return Annotated[dict[str, Any], Meta(description=description,
                                          extra_json_schema={SIGNED_OBJECT_KEYWORD: object_type})]


PartyObject = _signed(PARTY_RECORD_TYPE, "a party record (an object)")
CertificateObject = _signed(CERTIFICATE_TYPE, "a member certificate (an object)")
RevocationObject = _signed(REVOCATION_TYPE, "a revocation (an object)")
RotationObject = _signed(ROTATION_TYPE, "a root key rotation (an object)")
Certificates = Annotated[list[CertificateObject], Meta(min_length=1, max_length=256,
                                                       description="a non-empty list of member certificates "
                                                                   "(at most 256 objects)")]
Rotations = Annotated[list[RotationObject], Meta(max_length=64, description="a list of root key rotations "
                                                                           "(at most 64 objects)")]


class PublicBody(Struct, frozen=True, kw_only=True, omit_defaults=True, forbid_unknown_fields=True):
    """The content of one cleartext event. ``what`` names its kind in messages."""

    what: ClassVar[str] = "public event"


# ---- membership ------------------------------------------------------------------------------------------------
class Genesis(PublicBody, frozen=True):
    """The first event: the convening party, its first certified devices, and its root rotations so far."""

    what: ClassVar[str] = "genesis"
    party: PartyObject
    certificates: Certificates
    rotations: Rotations = []


class PartyInvite(PublicBody, frozen=True):
    what: ClassVar[str] = "invitation"
    party: PartyObject
    rotations: Rotations = []


class PartyJoin(PublicBody, frozen=True):
    what: ClassVar[str] = "join"
    certificates: Certificates


class PartyLeave(PublicBody, frozen=True):
    what: ClassVar[str] = "leave"


class MemberAdd(PublicBody, frozen=True):
    what: ClassVar[str] = "member addition"
    certificate: CertificateObject


class MemberRemove(PublicBody, frozen=True):
    what: ClassVar[str] = "member removal"
    revocation: RevocationObject


class RootRotate(PublicBody, frozen=True):
    what: ClassVar[str] = "root key rotation"
    rotation: RotationObject


class PublicStatement(PublicBody, frozen=True):
    what: ClassVar[str] = "public statement"
    text: Annotated[str, Meta(pattern=r"\S", max_length=1_000_000, description="non-empty text",
                              extra={"refusal": "'text': a {what} needs text (non-empty)"})]


# ---- the published agreement -----------------------------------------------------------------------------------
class PublishedAct(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A party's signature or release consent as the publication carries it. Which device made it and whether
    it verifies is the rule book's (``verify_head_act``): a missing device or signature is refused there."""

    signature: Annotated[str, Meta(description="an armored SSH signature")] | None = None
    device: Annotated[str, Meta(description="the device key id of the head who made it")] | None = None
    public_key: Annotated[str, Meta(description="the head's certified signing key")] | None = None
    party: str | None = None
    member: str | None = None
    #: a text in several languages: the signature of each other language's text, by language code
    languages: Annotated[dict[str, str], Meta(description="a signature per language code")] | None = None


class PublishedText(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Another language's canonical text and the document its signatures are over."""

    text: Annotated[str, Meta(description="the canonical text")]
    title: str | None = None
    document: Annotated[str, Meta(description="the signed document of this language's text")] | None = None


class LoggedPublication(PublicBody, frozen=True, forbid_unknown_fields=False):
    """What every publication in a log holds, those of bundle format 1 included (which named neither the
    version nor the signed document): what a bundle's reader compares with the files it holds."""

    what: ClassVar[str] = "publication"
    agreement_id: Annotated[str, Meta(description="the agreement id")]
    title: Annotated[str, Meta(description="the agreement's title")]
    text: Annotated[str, Meta(min_length=1, description="the canonical agreement text")]
    signatures: Annotated[dict[str, PublishedAct], Meta(description="an object of each party's signature")]
    consents: Annotated[dict[str, PublishedAct], Meta(description="an object of each party's release consent")]
    version: Annotated[int, Meta(ge=1, description="the finalized version's number")] | None = None
    document: Annotated[str, Meta(description="the signed document")] | None = None
    text_sha256: str | None = None
    signers_devices: dict[str, str] | None = None
    languages: Annotated[list[str], Meta(description="a list of language codes")] | None = None
    prevailing: str | None = None
    texts: Annotated[dict[str, PublishedText], Meta(description="one text per other language")] | None = None
    #: checked by ``agreement.check_annexes`` (the annex list of a finalized version)
    annexes: Annotated[list[Any], Meta(description="a list of annexes")] | None = None


class Publication(LoggedPublication, frozen=True, forbid_unknown_fields=False):
    """A released agreement made public, as the relay accepts one now: its canonical text, the version and the
    signed document, every party's signature and release consent (``agreement.check_publication``)."""

    version: Annotated[int, Meta(ge=1, description="the finalized version's number")]
    document: Annotated[str, Meta(description="the signed document")]


#: event type -> the declaration of its content (the names are those of ``parley.protocol.state``)
PUBLIC_MODELS: dict[str, type[PublicBody]] = {
    "negotiation.genesis": Genesis, "party.invite": PartyInvite, "party.join": PartyJoin,
    "party.leave": PartyLeave, "member.add": MemberAdd, "member.remove": MemberRemove,
    "party.rotate-root": RootRotate, "statement.public": PublicStatement, "agreement.publication": Publication,
}


def decode_public(event_type: str, content: Any) -> PublicBody:
    """The typed content of a cleartext event of ``event_type``, its shape checked against the declaration.

    Raises:
        InputError: an unknown type, content that is not an object, a field the kind does not hold (membership
            events), or a field missing or not matching its declaration (the message names the field).
    """
    model = PUBLIC_MODELS.get(event_type)
    if model is None:
        raise InputError(f"unknown public event type '{event_type}'")
    if not isinstance(content, Mapping):
        raise InputError(f"{model.what} content must be an object")
    if model.__struct_config__.forbid_unknown_fields:
        unknown = sorted(str(k) for k in content if k not in model.__struct_fields__)
        if unknown:
            held = ", ".join(model.__struct_fields__) or "no field"
            raise InputError(f"{model.what}: no field '{unknown[0]}' (it holds {held})")
    return convert_declared(model, content)


def decode_logged_publication(content: Any) -> LoggedPublication:
    """A publication read from a log as any format wrote it (a bundle's reader: ``LoggedPublication``).

    Raises:
        InputError: content that is not an object, or a field missing or not matching its declaration.
    """
    if not isinstance(content, Mapping):
        raise InputError("publication content must be an object")
    return convert_declared(LoggedPublication, content)


def public_schemas() -> dict[str, Any]:
    """The JSON Schema of every cleartext kind, by event type (one ``$defs`` shared by all)."""
    return schemas_of(PUBLIC_MODELS)


__all__ = ["PUBLIC_MODELS", "LoggedPublication", "PublicBody", "Publication", "decode_logged_publication",
           "decode_public", "public_schemas"]
