"""The shapes of the relay's requests and answers, as the OpenAPI description states them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema

from parley.errors import InputError
from parley.protocol.events import AUTHORITIES, PROTOCOL_VERSION
from parley.protocol.identity import (
    CERTIFICATE_TYPE,
    PARTY_RECORD_TYPE,
    REVOCATION_TYPE,
    ROLES,
    ROTATION_TYPE,
)
from parley.protocol.public_bodies import PublicStatement, decode_public


class ErrorBody(BaseModel):
    """Every refusal: a machine-readable code and a message for a human."""

    error: str
    message: str


#: documented for every route (schemathesis checks answers against it); 429 also carries Retry-After
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text} for status, text in (
        (400, "Malformed request"), (401, "Unsigned, forged, expired or replayed request"),
        (403, "Authenticated but not allowed"), (404, "Not found (or not visible to the caller)"),
        (405, "Method not allowed"), (408, "Request body too slow"), (409, "Conflict"),
        (413, "Over a size limit"),
        (422, "Fails verification (signature, certificate, protocol rule)"),
        (429, "Rate limited; see Retry-After"), (503, "Storage unavailable"))}

#: the relay stores ciphertexts without reading them; what they hold is described for the members' clients
CIPHERTEXTS = ("One ciphertext per recipient group, in the order of the header's ciphertexts. Opened by a "
               "recipient, each is an EncryptedBody (components.schemas.EncryptedBody); the relay never reads it.")

# ---- the event header -----------------------------------------------------------------------------------
# ``parley.protocol.events.Header.from_obj`` parses a header by hand (it is on every event's path); these models
# state the same rules for the description, and tests/relay/test_relay_event_header_schema.py checks them against
# that parser on real events (both accept them, both refuse the same broken ones) so the two cannot drift.
_DEVICE_KEY_ID = r"^[0-9a-f]{32}$"
_SHA256_HEX = r"^[0-9a-f]{64}$"
#: canonical base64 of 16 bytes (the header's nonce) and of 32 bytes (a Merkle root)
_BASE64_16 = r"^[A-Za-z0-9+/]{21}[AQgw]==$"
_BASE64_32 = r"^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$"
#: canonical base64 of 64 bytes (an Ed25519 signature)
_BASE64_64 = r"^[A-Za-z0-9+/]{85}[AQgw]==$"
#: ``parley.protocol.times.format_time``'s form: UTC, to the second
_TIME = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"
_STRICT = ConfigDict(extra="forbid")


class HeaderAudience(BaseModel):
    """Who an event is for: party ids (sorted, unique; at most the relay's ``max_parties``), optionally only
    some roles within them (sorted, unique)."""

    model_config = _STRICT
    parties: list[Annotated[str, Field(max_length=64)]] = Field(min_length=1)
    roles: Annotated[list[Literal[ROLES]], Field(min_length=1)] | None  # type: ignore[valid-type]


class HeaderCiphertext(BaseModel):
    """One ciphertext's SHA-256 and the device keys it is encrypted to (sorted, unique)."""

    model_config = _STRICT
    sha256: str = Field(pattern=_SHA256_HEX)
    recipients: list[Annotated[str, Field(pattern=_DEVICE_KEY_ID)]] = Field(min_length=1)


class HeaderCheckpoint(BaseModel):
    """The newest checkpoint of the log its author had verified: its size and Merkle root (base64)."""

    model_config = _STRICT
    size: int = Field(ge=0)
    root: str = Field(pattern=_BASE64_32)


class PublicEvent(BaseModel):
    """A public event's type and content, as the header's parser reads it. The served description replaces this
    component by the kinds ``parley.protocol.public_bodies`` declares (a ``oneOf`` discriminated by ``type``,
    ``parley.relay.openapi_bodies``): they are referred to, not copied."""

    model_config = _STRICT
    type: str
    content: Any


class _HeaderFields(BaseModel):
    model_config = _STRICT
    negotiation: str = Field(min_length=1, max_length=64)
    author: str = Field(pattern=_DEVICE_KEY_ID, description="the signing device's key id")
    created: str = Field(pattern=_TIME, description="UTC, to the second")
    prev: Annotated[str, Field(pattern=_SHA256_HEX)] | None = Field(
        description="the id of the event before it in its author's view of the log")
    nonce: str = Field(pattern=_BASE64_16, description="16 random bytes, base64")
    audience: HeaderAudience
    authority: Literal[AUTHORITIES]  # type: ignore[valid-type]
    ciphertexts: list[HeaderCiphertext]
    public: PublicEvent | None = Field(description="a public event's type and content; null for an encrypted "
                                                    "event")
    checkpoint: HeaderCheckpoint | None


class EventHeader(_HeaderFields):
    """An event's signed cleartext header (RFC 8785 canonical JSON), protocol version 2: every field is present,
    nullable ones as null. A public event has ``public``, no ciphertexts and ``tags`` null; an encrypted one at
    least one ciphertext, ``public`` null and at least one audience tag per recipient. The relay's limits
    (ciphertexts and recipients per event, parties) are in ``/v1/relay``."""

    v: Literal[PROTOCOL_VERSION]  # type: ignore[valid-type]
    tags: list[Annotated[str, Field(pattern=_BASE64_16)]] | None = Field(
        description="an encrypted event's audience tags (16 bytes each, base64, sorted): one per recipient "
                    "device, padded to the devices of the negotiation (docs/security.md); null for a public event")


class EventHeaderV1(_HeaderFields):
    """A protocol version 1 header (events posted before audience tags): no ``tags`` field."""

    v: Literal[1]


AnyEventHeader = EventHeader | EventHeaderV1


# ---- the signed objects of the directory ------------------------------------------------------------------
# ``parley.protocol.identity`` parses and verifies these by hand (``PartyRecord.from_obj`` and the others); these
# models state the same form for the description, and tests/relay/test_relay_identity_schemas.py checks them
# against the parser and its verification on real objects (both accept them, both refuse the same broken ones).
# Key ids are hex because the protocol only ever compares them with ``key_id`` of a key (a party id with its root
# key, a device with its certificate): the parser reads any short string, its verification refuses the others.
# Rules across fields stay the protocol's: a party id derived from the root key, a non-empty validity window, a
# linked certificate inside its certifier's window and no deeper than ``MAX_LINK_DEPTH``, every signature.
_NAME = r"^[^\x00-\x1f]+$"
#: an age X25519 recipient: "age1" and 58 bech32 characters (its checksum is the parser's)
_AGE_RECIPIENT = r"^age1[qpzry9x8gf2tvdw0s3jn54khce6mua7l]{58}$"


def _absent_when_unset(schema: dict[str, Any]) -> None:
    """An optional field of a signed object is left out, never null: its schema states no default."""
    schema.pop("default", None)


KeyId = Annotated[str, Field(pattern=_DEVICE_KEY_ID, description="a key id: SHA-256 of the raw key, 16 bytes, hex")]
PublicKey = Annotated[str, Field(pattern=_BASE64_32, description="an Ed25519 public key, base64")]
Signature = Annotated[str, Field(pattern=_BASE64_64, description="an Ed25519 signature of the canonical JSON of "
                                                                  "the other fields, base64")]
Time = Annotated[str, Field(pattern=_TIME, description="UTC, to the second")]
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=_NAME,
                            description="1 to 200 characters, no control characters")]


class PartyRecord(BaseModel):
    """A party's name and root key, signed by that root key; the party id is the root key's id."""

    model_config = _STRICT
    type: Literal[PARTY_RECORD_TYPE]  # type: ignore[valid-type]
    party_id: KeyId
    name: Name
    root_key: PublicKey
    signature: Signature


class MemberCertificate(BaseModel):
    """A member's device keys and role, signed by the party root, or by another device of the same member
    (``linked_by``, that device's certificate) for a linked device. ``max_devices`` only in a root-issued one."""

    model_config = _STRICT
    type: Literal[CERTIFICATE_TYPE]  # type: ignore[valid-type]
    party_id: KeyId
    member: Name
    role: Literal[ROLES]  # type: ignore[valid-type]
    signing_key: PublicKey
    encryption_key: str = Field(pattern=_AGE_RECIPIENT, description="an age X25519 recipient")
    not_before: Time
    not_after: Time
    signature: Signature
    # absent, not null, when not set (the signed form leaves them out)
    max_devices: int = Field(None, strict=True, ge=1, le=64,  # type: ignore[assignment]
                             description="how many devices the member may have in all",
                             json_schema_extra=_absent_when_unset)
    linked_by: MemberCertificate = Field(None,  # type: ignore[assignment]
                                         description="the certificate of the device that certified this one",
                                         json_schema_extra=_absent_when_unset)


class Revocation(BaseModel):
    """A device removed from a party from a time on, signed by the party root, or by another device of the same
    person (``by``, its key id)."""

    model_config = _STRICT
    type: Literal[REVOCATION_TYPE]  # type: ignore[valid-type]
    party_id: KeyId
    device_key_id: KeyId
    revoked_at: Time
    reason: Name
    signature: Signature
    by: KeyId = Field(None,  # type: ignore[assignment]
                      description="the revoking device's key id (absent: the party root)",
                      json_schema_extra=_absent_when_unset)


class RootRotation(BaseModel):
    """A party's move to a new root key, signed by the old root and by the new one."""

    model_config = _STRICT
    type: Literal[ROTATION_TYPE]  # type: ignore[valid-type]
    party_id: KeyId
    old_root_key: PublicKey
    new_root_key: PublicKey
    rotated_at: Time
    old_signature: Signature
    new_signature: Signature


#: the component that declares each signed object, by its ``type`` (``parley.relay.openapi_bodies`` refers the
#: public events' plain objects to them)
SIGNED_OBJECTS: dict[str, type[BaseModel]] = {
    PARTY_RECORD_TYPE: PartyRecord, CERTIFICATE_TYPE: MemberCertificate, REVOCATION_TYPE: Revocation,
    ROTATION_TYPE: RootRotation}


# Request bodies are read as raw bytes (the RFC 9421 Content-Digest covers exactly them) and parsed by the
# protocol's own types; these models declare their shape for the OpenAPI description (clients, schemathesis).
class EnvelopeRequest(BaseModel):
    """A signed event: canonical header, Ed25519 signature, one ciphertext per recipient group."""

    header: AnyEventHeader
    signature: str
    ciphertexts: list[str | None] = Field(description=CIPHERTEXTS)


class EnrolRequest(BaseModel):
    """A party's enrolment: the operator's one-time token, the party record, its first devices."""

    model_config = _STRICT
    token: str = Field(max_length=200)
    party: PartyRecord
    certificates: list[MemberCertificate] = Field(min_length=1, max_length=64)


class CertificateRequest(BaseModel):
    model_config = _STRICT
    certificate: MemberCertificate


class RotationRequest(BaseModel):
    model_config = _STRICT
    rotation: RootRotation


class RevocationRequest(BaseModel):
    model_config = _STRICT
    revocation: Revocation


# The device link's two messages (``parley.client.devices``, ``parley.crypto.linking``): the relay keeps them in
# its mailbox without reading them further, and refuses one off these shapes. The request is exactly its fields
# (the device that reads it refuses any other); the answer's reader ignores fields it does not know.
class LinkRequestMessage(BaseModel):
    """A new device's public keys and their MAC under the link code (never sent)."""

    model_config = _STRICT
    signing_key: PublicKey
    encryption_key: str = Field(pattern=_AGE_RECIPIENT, description="an age X25519 recipient")
    mac: str = Field(pattern=_SHA256_HEX, description="HMAC-SHA256 (hex) of the canonical JSON of the two keys "
                                                      "under the link code's key")


class LinkAnswerMessage(BaseModel):
    """The existing device's answer: the new device's certificate and profile sealed to its encryption key."""

    blob: str = Field(min_length=1, pattern=r"^[A-Za-z0-9+/]+={0,2}$", description="the sealed answer, base64")
    mac: str = Field(pattern=_SHA256_HEX, description="HMAC-SHA256 (hex) of the blob under the link code's key")


class LinkRequest(BaseModel):
    """A new device's public keys, authenticated by the link code (never sent)."""

    model_config = _STRICT
    request: LinkRequestMessage


class LinkAnswer(BaseModel):
    """The existing device's answer, encrypted to the new device and authenticated by the link code."""

    model_config = _STRICT
    answer: LinkAnswerMessage


#: the schemas request bodies refer to (the header's parts, the signed objects, the link messages), added to
#: ``components`` with the description
REQUEST_COMPONENTS: dict[str, Any] = {}


def request_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON Schema for a request body read by hand, its references into ``components.schemas``
    (where ``REQUEST_COMPONENTS`` puts what they name)."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    REQUEST_COMPONENTS.update(schema.pop("$defs", {}))
    return schema


ENVELOPE_SCHEMA = request_schema(EnvelopeRequest)
#: an event post: the event, and optionally its author's cosignature of the newest checkpoint it verified
#: (checked and kept as ``POST /v1/negotiations/{id}/cosignatures`` does; a refused one refuses the post)
EVENT_POST_SCHEMA = {**ENVELOPE_SCHEMA, "title": "EventPostRequest", "properties": {
    **ENVELOPE_SCHEMA["properties"], "cosignature": {"anyOf": [{"type": "null"}, {
        "type": "object", "required": ["size", "cosignature"], "additionalProperties": False, "properties": {
            "size": {"type": "integer", "minimum": 1}, "cosignature": {"type": "string", "maxLength": 400}}}]}}}
LINK_REQUEST_SCHEMA = request_schema(LinkRequest)
LINK_ANSWER_SCHEMA = request_schema(LinkAnswer)
ENROL_SCHEMA = request_schema(EnrolRequest)
CERTIFICATE_BODY_SCHEMA = request_schema(CertificateRequest)
ROTATION_BODY_SCHEMA = request_schema(RotationRequest)
REVOCATION_BODY_SCHEMA = request_schema(RevocationRequest)


def json_body(schema: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` for a route whose JSON body is read by hand."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


# ---- answers ------------------------------------------------------------------------------------------
# Declared once here; routes name them in ``responses`` (the OpenAPI description, for generated clients and
# schemathesis) while writing their answers themselves: the hot routes serialise with orjson or splice
# stored bytes, and a validation pass per answer would cost more than the route.
class EventBody(BaseModel):
    """A signed event as stored: the canonical header, its signature, one ciphertext per recipient group
    (null where the caller may not read it)."""

    header: AnyEventHeader
    signature: str
    ciphertexts: list[str | None] = Field(description=CIPHERTEXTS)


class ListedEvent(BaseModel):
    seq: int
    received_at: str
    event: EventBody


class HiddenEntry(BaseModel):
    """What a member outside an encrypted event's audience receives of it: its Merkle leaf."""

    model_config = _STRICT
    event: str = Field(pattern=_SHA256_HEX, description="the event's id")
    nonce: str = Field(pattern=_BASE64_16, description="the header's nonce")
    tags: list[Annotated[str, Field(pattern=_BASE64_16)]] = Field(description="the header's audience tags")


class HiddenListedEvent(BaseModel):
    """An event of the log whose audience leaves the caller's party out (docs/security.md)."""

    model_config = _STRICT
    seq: int
    hidden: HiddenEntry


class EventPage(BaseModel):
    """A page of a negotiation's log and the relay's signed checkpoint of the whole log; asked with
    ``consistency_from=N``, also the consistency proof from size N to that checkpoint (RFC 9162, base64
    hashes; null when the log is smaller than N)."""

    negotiation_id: str
    size: int
    checkpoint: str
    events: list[ListedEvent | HiddenListedEvent]
    consistency_proof: list[str] | None = Field(
        default=None, description="Present when asked with consistency_from: the consistency proof from that "
                                  "size to this checkpoint.")


class AcceptedEvent(BaseModel):
    """An appended event: its place in the log, the signed checkpoint that includes it, the inclusion proof
    (with which its author appends it to its verified copy without listing the log again) and when the
    relay received it."""

    negotiation_id: str
    seq: int
    event_id: str
    size: int
    checkpoint: str
    inclusion_proof: list[str]
    received_at: str


class Checkpoint(BaseModel):
    size: int
    checkpoint: str


class InclusionProof(BaseModel):
    index: int
    size: int
    proof: list[str]


class ConsistencyProof(BaseModel):
    first: int
    second: int
    proof: list[str]


class AccessLogEntry(BaseModel):
    """One fetch of a ciphertext: which device fetched which event's ciphertext (its index in the event), when."""

    model_config = _STRICT
    id: int = Field(ge=1, description="the entry's number; ask for the entries after it with ``after``")
    device_key_id: KeyId
    seq: int = Field(ge=0, description="the event's position in the log")
    ciphertext: int = Field(ge=0, description="the ciphertext's index in the event")
    fetched_at: Time


class AccessLog(BaseModel):
    """The fetches of a negotiation's ciphertexts, oldest first (fetches of events hidden from the caller's party
    left out)."""

    entries: list[AccessLogEntry]


class NegotiationSummary(BaseModel):
    negotiation_id: str
    size: int


class Negotiations(BaseModel):
    negotiations: list[NegotiationSummary]


class Enrolled(BaseModel):
    party_id: str
    devices: list[str]


class Parties(BaseModel):
    parties: list[PartyRecord]


class DeviceEntry(BaseModel):
    certificate: MemberCertificate
    revoked_at: Time | None
    #: the signed revocation, so members can carry it into every negotiation
    revocation: Revocation | None = None


class PartyEntry(BaseModel):
    party: PartyRecord
    rotations: list[RootRotation]
    devices: list[DeviceEntry]


class DeviceAdded(BaseModel):
    device_key_id: str


class LinkMessage(BaseModel):
    """A link message in the relay's mailbox: the new device's request or the existing device's answer."""

    slot: str = Field(pattern=_SHA256_HEX)
    message: LinkRequestMessage | LinkAnswerMessage


class DeviceRevoked(BaseModel):
    device_key_id: str
    revoked_at: str


class RootRotated(BaseModel):
    party_id: str
    root_key: str


def _published(content: dict[str, Any]) -> dict[str, Any]:
    """Raises: ValueError where ``parley.protocol.public_bodies.decode_public`` refuses the publication."""
    try:
        decode_public("agreement.publication", content)
    except InputError as refused:
        raise ValueError(str(refused)) from None
    return content


#: the content of an ``agreement.publication`` event, as ``parley.protocol.public_bodies.Publication`` declares
#: it (its served schema is that declaration's component, ``parley.relay.openapi_bodies``)
PublicationContent = Annotated[dict[str, Any], AfterValidator(_published),
                               WithJsonSchema({"allOf": [{"$ref": "#/components/schemas/PublicContentPublication"}]})]


def _declared_text(declaration: type[msgspec.Struct], name: str) -> Any:  # noqa: ANN401
    """A text field of a ``msgspec`` declaration as a pydantic type with the same constraints."""
    declared = next(field.type for field in msgspec.inspect.type_info(declaration).fields if field.name == name)
    if isinstance(declared, msgspec.inspect.Metadata):  # what the declaration adds beside its constraints
        declared = declared.type
    if not isinstance(declared, msgspec.inspect.StrType):
        raise TypeError(f"{declaration.__name__}.{name} is not a text field")
    return Annotated[str, Field(min_length=declared.min_length, max_length=declared.max_length,
                                pattern=declared.pattern)]


StatementText = _declared_text(PublicStatement, "text")


class ReleasedAgreement(BaseModel):
    agreement: PublicationContent
    negotiation_id: str
    seq: int
    checkpoint: str
    inclusion_proof: list[str]
    relay_vkey: str


class PublicStatementEntry(BaseModel):
    """A ``statement.public`` event's content (``parley.protocol.public_bodies.PublicStatement``), where it is in
    which log and when its author made it."""

    model_config = _STRICT
    negotiation_id: str
    seq: int = Field(ge=0)
    text: StatementText
    created: Time


class PublicStatements(BaseModel):
    statements: list[PublicStatementEntry]


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    checks: dict[str, str]


class RelayLimits(BaseModel):
    max_request_bytes: int
    max_ciphertext_bytes: int
    max_page_events: int
    #: a page ends before the event that would take its headers and ciphertexts past this (one event at least)
    max_page_bytes: int


class RelayIdentity(BaseModel):
    name: str
    vkey: str
    protocol: int
    version: str
    limits: RelayLimits


class CosignatureAccepted(BaseModel):
    size: int
    timestamp: int


class StoredCosignature(BaseModel):
    size: int
    party_id: str
    device_key_id: str
    timestamp: int
    cosignature: str


class CosignatureList(BaseModel):
    cosignatures: list[StoredCosignature]


def answer(model: type[BaseModel], status: int = 200, description: str = "Success") -> dict[int | str, Any]:
    """``responses`` for a route whose answer has the shape of ``model``."""
    return {status: {"model": model, "description": description}}
