"""The shapes of the relay's requests and answers, as the OpenAPI description states them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from parley.protocol.events import AUTHORITIES, PROTOCOL_VERSION
from parley.protocol.identity import ROLES


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
    created: str = Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$",
                         description="UTC, to the second")
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


# Request bodies are read as raw bytes (the RFC 9421 Content-Digest covers exactly them) and parsed by the
# protocol's own types; these models declare their shape for the OpenAPI description (clients, schemathesis).
class EnvelopeRequest(BaseModel):
    """A signed event: canonical header, Ed25519 signature, one ciphertext per recipient group."""

    header: AnyEventHeader
    signature: str
    ciphertexts: list[str | None] = Field(description=CIPHERTEXTS)


class EnrolRequest(BaseModel):
    """A party's enrolment: the operator's one-time token, the party record, its first devices."""

    token: str
    party: dict[str, Any]
    certificates: list[dict[str, Any]]


class CertificateRequest(BaseModel):
    certificate: dict[str, Any]


class RotationRequest(BaseModel):
    rotation: dict[str, Any]


class RevocationRequest(BaseModel):
    revocation: dict[str, Any]


class LinkRequest(BaseModel):
    """A new device's public keys, authenticated by the link code (never sent)."""

    request: dict[str, Any]


class LinkAnswer(BaseModel):
    """The existing device's answer, encrypted to the new device and authenticated by the link code."""

    answer: dict[str, Any]


#: the schemas request bodies refer to (the header's parts), added to ``components`` with the description
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
LINK_REQUEST_SCHEMA = LinkRequest.model_json_schema()
LINK_ANSWER_SCHEMA = LinkAnswer.model_json_schema()
ENROL_SCHEMA = EnrolRequest.model_json_schema()
CERTIFICATE_BODY_SCHEMA = CertificateRequest.model_json_schema()
ROTATION_BODY_SCHEMA = RotationRequest.model_json_schema()
REVOCATION_BODY_SCHEMA = RevocationRequest.model_json_schema()


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


class AccessLog(BaseModel):
    entries: list[dict[str, Any]]


class NegotiationSummary(BaseModel):
    negotiation_id: str
    size: int


class Negotiations(BaseModel):
    negotiations: list[NegotiationSummary]


class Enrolled(BaseModel):
    party_id: str
    devices: list[str]


class Parties(BaseModel):
    parties: list[dict[str, Any]]


class DeviceEntry(BaseModel):
    certificate: dict[str, Any]
    revoked_at: str | None
    #: the party root's signed revocation, so members can carry it into every negotiation
    revocation: dict[str, Any] | None = None


class PartyEntry(BaseModel):
    party: dict[str, Any]
    rotations: list[dict[str, Any]]
    devices: list[DeviceEntry]


class DeviceAdded(BaseModel):
    device_key_id: str


class LinkMessage(BaseModel):
    slot: str
    message: dict[str, Any]


class DeviceRevoked(BaseModel):
    device_key_id: str
    revoked_at: str


class RootRotated(BaseModel):
    party_id: str
    root_key: str


class ReleasedAgreement(BaseModel):
    agreement: dict[str, Any]
    negotiation_id: str
    seq: int
    checkpoint: str
    inclusion_proof: list[str]
    relay_vkey: str


class PublicStatements(BaseModel):
    statements: list[dict[str, Any]]


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
