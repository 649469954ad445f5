"""The event envelope: cleartext signed header, age ciphertexts, encrypted body.

Wire form (JSON)::

    {"header": {...}, "signature": "<base64 Ed25519>", "ciphertexts": ["<base64 age>" | null, ...]}

The header is what the relay sees and orders; it is signed by the author's
device key over its RFC 8785 bytes. ``ciphertexts[i]`` is null in a listing
for a caller who is not among ``header.ciphertexts[i].recipients``. The
encrypted body carries the event type and content plus ``binding``, the hash
of the header without its ciphertext digests, so a ciphertext cannot be
replayed inside another event.

Structural events the relay must understand (genesis, party admission,
certificates, revocations, public statements) carry their body in the
header's ``public`` field instead, in clear.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from parley.crypto.canonical import canonical_bytes, sign_canonical
from parley.crypto.keys import SigningKey, b64decode, b64encode, verify_bytes
from parley.errors import InputError, LimitError, ProtocolError, SignatureError
from parley.protocol.identity import ROLES
from parley.protocol.times import format_time, parse_time
from parley.settings import DEFAULT_LIMITS, Limits

#: version 2: an encrypted event's header carries audience tags, and its Merkle leaf is the hidden entry (the
#: event id, nonce and tags) that members outside its audience receive instead of the header; version 1 headers
#: (no tags, the header and signature as leaf) are still read
PROTOCOL_VERSION = 2
PROTOCOL_VERSIONS = (1, 2)
AUTHORITIES = ("member", "head")
HEADER_FIELDS_V1 = frozenset({
    "v", "negotiation", "author", "created", "prev", "nonce", "audience", "authority", "ciphertexts", "public",
    "checkpoint",
})
HEADER_FIELDS = HEADER_FIELDS_V1 | {"tags"}
_HEX = set("0123456789abcdef")
_BASE64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")


def _is_hex(value: Any, length: int) -> bool:
    return isinstance(value, str) and len(value) == length and set(value) <= _HEX


@dataclass(frozen=True)
class Audience:
    """Who an event is for: party ids, optionally only some roles within them."""

    parties: tuple[str, ...]
    roles: tuple[str, ...] | None = None

    def to_obj(self) -> dict[str, Any]:
        return {"parties": list(self.parties), "roles": None if self.roles is None else list(self.roles)}

    @classmethod
    def from_obj(cls, obj: Any, limits: Limits) -> Audience:
        if not isinstance(obj, dict) or set(obj) != {"parties", "roles"}:
            raise InputError("audience must be {parties, roles}")
        parties, roles = obj["parties"], obj["roles"]
        if not isinstance(parties, list) or not parties or len(parties) > limits.max_parties:
            raise InputError("audience.parties must be a non-empty list of party ids")
        if not all(isinstance(p, str) and len(p) <= 64 for p in parties) or parties != sorted(set(parties)):
            raise InputError("audience.parties must be sorted, unique party ids")
        if roles is not None:
            if (not isinstance(roles, list) or not roles or not all(isinstance(r, str) for r in roles)
                    or not set(roles) <= set(ROLES) or roles != sorted(set(roles))):
                raise InputError(f"audience.roles must be null or a sorted list from {', '.join(ROLES)}")
            roles = tuple(roles)
        return cls(tuple(parties), roles)


@dataclass(frozen=True)
class CiphertextRef:
    """The digest of one ciphertext and the device keys it is encrypted to."""

    sha256: str
    recipients: tuple[str, ...]

    def to_obj(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "recipients": list(self.recipients)}


@dataclass(frozen=True)
class Header:
    negotiation: str
    author: str
    created: str
    nonce: str
    audience: Audience
    prev: str | None = None
    authority: str = "member"
    ciphertexts: tuple[CiphertextRef, ...] = ()
    public: dict[str, Any] | None = None
    checkpoint: dict[str, Any] | None = None
    #: audience tags (``parley.crypto.audience_tags``) of an encrypted event; None in public events (and absent
    #: from version 1 headers)
    tags: tuple[str, ...] | None = None
    v: int = 1

    def to_obj(self) -> dict[str, Any]:
        obj = {
            "v": self.v,
            "negotiation": self.negotiation,
            "author": self.author,
            "created": self.created,
            "prev": self.prev,
            "nonce": self.nonce,
            "audience": self.audience.to_obj(),
            "authority": self.authority,
            "ciphertexts": [ref.to_obj() for ref in self.ciphertexts],
            "public": self.public,
            "checkpoint": self.checkpoint,
        }
        if self.v >= 2:
            obj["tags"] = None if self.tags is None else list(self.tags)
        return obj

    def binding(self) -> str:
        """Hash of the header without ciphertext digests: the body's anchor to this event."""
        core = self.to_obj()
        del core["ciphertexts"]
        return hashlib.sha256(canonical_bytes(core)).hexdigest()

    @property
    def recipients(self) -> frozenset[str]:
        return frozenset(r for ref in self.ciphertexts for r in ref.recipients)

    @property
    def public_type(self) -> str | None:
        return None if self.public is None else self.public.get("type")

    @classmethod
    def from_obj(cls, obj: Any, limits: Limits = DEFAULT_LIMITS) -> Header:
        """Strictly parse a header.

        Raises:
            InputError: any field malformed or unknown.
            LimitError: over a limit.
        """
        if not isinstance(obj, dict):
            raise InputError("event header must be a JSON object")
        version = obj.get("v")
        if version not in PROTOCOL_VERSIONS or isinstance(version, bool):
            raise InputError(f"unsupported protocol version {version!r}")
        fields = HEADER_FIELDS_V1 if version == 1 else HEADER_FIELDS
        if set(obj) != fields:
            raise InputError(
                f"event header fields differ: missing {sorted(fields - set(obj))}, "
                f"unknown {sorted(set(obj) - fields)}"
            )
        if not isinstance(obj["negotiation"], str) or not 1 <= len(obj["negotiation"]) <= 64:
            raise InputError("header.negotiation must be a negotiation id")
        if not _is_hex(obj["author"], 32):
            raise InputError("header.author must be a device key id (32 hex digits)")
        parse_time(obj["created"], what="header.created")
        if obj["prev"] is not None and not _is_hex(obj["prev"], 64):
            raise InputError("header.prev must be null or an event id (64 hex digits)")
        nonce = b64decode(obj["nonce"], what="header.nonce")
        if len(nonce) != 16:
            raise InputError("header.nonce must be 16 random bytes")
        if obj["authority"] not in AUTHORITIES:
            raise InputError(f"header.authority must be one of {', '.join(AUTHORITIES)}")
        refs = obj["ciphertexts"]
        if not isinstance(refs, list):
            raise InputError("header.ciphertexts must be a list")
        if len(refs) > limits.max_ciphertexts_per_event:
            raise LimitError(f"an event may carry at most {limits.max_ciphertexts_per_event} ciphertexts")
        parsed_refs = []
        total_recipients = 0
        for ref in refs:
            if not isinstance(ref, dict) or set(ref) != {"sha256", "recipients"}:
                raise InputError("each header.ciphertexts entry must be {sha256, recipients}")
            if not _is_hex(ref["sha256"], 64):
                raise InputError("ciphertext sha256 must be 64 hex digits")
            recips = ref["recipients"]
            if not isinstance(recips, list) or not recips or not all(_is_hex(r, 32) for r in recips):
                raise InputError("ciphertext recipients must be a non-empty list of device key ids")
            if recips != sorted(set(recips)):
                raise InputError("ciphertext recipients must be sorted and unique")
            total_recipients += len(recips)
            parsed_refs.append(CiphertextRef(ref["sha256"], tuple(recips)))
        if total_recipients > limits.max_recipients_per_event:
            raise LimitError(f"an event may have at most {limits.max_recipients_per_event} recipients")
        public = obj["public"]
        if public is not None:
            if not isinstance(public, dict) or set(public) != {"type", "content"} or not isinstance(public["type"], str):
                raise InputError("header.public must be null or {type, content}")
            if parsed_refs:
                raise InputError("a public event carries no ciphertexts")
        elif not parsed_refs:
            raise InputError("an encrypted event needs at least one ciphertext")
        checkpoint = obj["checkpoint"]
        if checkpoint is not None:
            if (
                not isinstance(checkpoint, dict)
                or set(checkpoint) != {"size", "root"}
                or not isinstance(checkpoint["size"], int)
                or isinstance(checkpoint["size"], bool)
                or checkpoint["size"] < 0
            ):
                raise InputError("header.checkpoint must be null or {size, root}")
            if len(b64decode(checkpoint["root"], what="checkpoint root")) != 32:
                raise InputError("checkpoint root must be 32 bytes")
        tags = None
        if version >= 2 and public is not None and obj["tags"] is not None:
            raise InputError("a public event carries no audience tags (header.tags must be null)")
        if version >= 2 and public is None:
            tags = parse_tags(obj["tags"], limits)
            if len(tags) < total_recipients:
                raise InputError("header.tags must hold at least one tag per recipient")
        return cls(
            negotiation=obj["negotiation"],
            author=obj["author"],
            created=obj["created"],
            nonce=obj["nonce"],
            audience=Audience.from_obj(obj["audience"], limits),
            prev=obj["prev"],
            authority=obj["authority"],
            ciphertexts=tuple(parsed_refs),
            public=public,
            checkpoint=checkpoint,
            tags=tags,
            v=version,
        )


def parse_tags(value: Any, limits: Limits) -> tuple[str, ...]:
    """Audience tags: a sorted list of unique base64 strings of 16 bytes.

    Raises:
        InputError: malformed.  LimitError: more than one per recipient an event may have.
    """
    if not isinstance(value, list) or not value:
        raise InputError("tags must be a non-empty list")
    if len(value) > limits.max_recipients_per_event:
        raise LimitError(f"an event may carry at most {limits.max_recipients_per_event} audience tags")
    if not all(isinstance(t, str) and len(t) == 24 for t in value) or value != sorted(set(value)):
        raise InputError("tags must be sorted, unique base64 strings of 16 bytes")
    for tag in value:
        if len(b64decode(tag, what="audience tag")) != 16:
            raise InputError("an audience tag must be 16 bytes")
    return tuple(value)


def hidden_leaf_bytes(event_id: str, nonce: str, tags: tuple[str, ...]) -> bytes:
    """The Merkle leaf of a version 2 encrypted event: what a member outside its audience can check."""
    return canonical_bytes({"event": event_id, "nonce": nonce, "tags": list(tags)})


@dataclass(frozen=True)
class HiddenEvent:
    """An entry of the log as a member outside the event's audience receives it: the event's id, its nonce and
    its audience tags, which is its whole Merkle leaf. Nothing says who wrote it, for whom, or of what kind.

    Wire form: ``{"event", "nonce", "tags"}`` (in a listing, ``{"seq", "hidden": {...}}``)."""

    event_id: str
    nonce: str
    tags: tuple[str, ...]

    def leaf_bytes(self) -> bytes:
        return hidden_leaf_bytes(self.event_id, self.nonce, self.tags)

    def to_obj(self) -> dict[str, Any]:
        return {"hidden": {"event": self.event_id, "nonce": self.nonce, "tags": list(self.tags)}}

    @classmethod
    def of(cls, envelope: Envelope) -> HiddenEvent:
        """The hidden entry of a version 2 encrypted event.  Raises: InputError for any other event."""
        if envelope.header.tags is None:
            raise InputError("only a version 2 encrypted event has a hidden form")
        return cls(envelope.event_id, envelope.header.nonce, envelope.header.tags)

    @classmethod
    def from_obj(cls, obj: Any, limits: Limits = DEFAULT_LIMITS) -> HiddenEvent:
        """Parse ``{"event", "nonce", "tags"}``.  Raises: InputError / LimitError: malformed."""
        if not isinstance(obj, dict) or set(obj) != {"event", "nonce", "tags"}:
            raise InputError("a hidden entry must be {event, nonce, tags}")
        if not _is_hex(obj["event"], 64):
            raise InputError("a hidden entry's event must be an event id (64 hex digits)")
        if not isinstance(obj["nonce"], str) or len(b64decode(obj["nonce"], what="nonce")) != 16:
            raise InputError("a hidden entry's nonce must be 16 bytes")
        return cls(obj["event"], obj["nonce"], parse_tags(obj["tags"], limits))


def entry_from_obj(obj: Any, limits: Limits = DEFAULT_LIMITS) -> Envelope | HiddenEvent:
    """A stored or served log entry: an envelope, or ``{"hidden": {...}}``.

    Raises:
        InputError / LimitError: malformed.
    """
    if isinstance(obj, dict) and set(obj) == {"hidden"}:
        return HiddenEvent.from_obj(obj["hidden"], limits)
    return Envelope.from_obj(obj, limits)


@dataclass(frozen=True)
class Envelope:
    """A signed event as it travels; ``ciphertexts[i]`` is None when withheld from the caller."""

    header: Header
    signature: str
    ciphertexts: tuple[bytes | None, ...] = field(default=())

    # Cached: an envelope is immutable, and these bytes are needed several times per event
    # (size check, event id, signature, Merkle leaf) on every relay and client.
    @cached_property
    def header_bytes(self) -> bytes:
        return canonical_bytes(self.header.to_obj())

    @cached_property
    def event_id(self) -> str:
        return hashlib.sha256(self.header_bytes).hexdigest()

    def leaf_bytes(self) -> bytes:
        """The Merkle leaf. Of a version 2 encrypted event: its hidden entry (``HiddenEvent``), whose event id
        commits the whole header. Otherwise: canonical header with signature (ciphertexts are committed by digest).

        The second is equal to ``canonical_bytes({"header": ..., "signature": ...})``: keys sort as "header" <
        "signature", and the signature is base64 (no character needs escaping).
        """
        if self.header.tags is not None:
            return hidden_leaf_bytes(self.event_id, self.header.nonce, self.header.tags)
        if not _BASE64_CHARS.issuperset(self.signature):
            return canonical_bytes({"header": self.header.to_obj(), "signature": self.signature})
        return b'{"header":' + self.header_bytes + b',"signature":"' + self.signature.encode("ascii") + b'"}'

    def to_obj(self) -> dict[str, Any]:
        return {
            "header": self.header.to_obj(),
            "signature": self.signature,
            "ciphertexts": [None if c is None else b64encode(c) for c in self.ciphertexts],
        }

    def to_json(self) -> bytes:
        """The wire form. Built from the cached canonical header, and base64 needs no JSON escaping,
        so a megabyte of ciphertext is encoded once instead of being scanned again by ``json.dumps``."""
        if not _BASE64_CHARS.issuperset(self.signature):
            return json.dumps(self.to_obj(), separators=(",", ":")).encode()
        blobs = b",".join(b"null" if c is None else b'"' + base64.b64encode(c) + b'"' for c in self.ciphertexts)
        return (b'{"header":' + self.header_bytes + b',"signature":"' + self.signature.encode("ascii")
                + b'","ciphertexts":[' + blobs + b"]}")

    def verify_signature(self, signing_key_b64: str) -> None:
        """Raises: SignatureError if the author's key did not sign this header."""
        verify_bytes(signing_key_b64, self.header_bytes, self.signature)

    def check_ciphertexts(self, limits: Limits = DEFAULT_LIMITS, *, require_all: bool = False) -> None:
        """Every present ciphertext matches its digest and the size limits.

        Raises:
            ProtocolError: a ciphertext does not match the digest the author signed.
            LimitError: too large.
            InputError: count differs from the header, or one is missing when ``require_all``.
        """
        if len(self.ciphertexts) != len(self.header.ciphertexts):
            raise InputError("the number of ciphertexts differs from the header")
        total = 0
        for index, (blob, ref) in enumerate(zip(self.ciphertexts, self.header.ciphertexts, strict=True)):
            if blob is None:
                if require_all:
                    raise InputError(f"ciphertext {index} is missing")
                continue
            if len(blob) > limits.max_ciphertext_bytes:
                raise LimitError(f"ciphertext {index} is over {limits.max_ciphertext_bytes} bytes")
            total += len(blob)
            if hashlib.sha256(blob).hexdigest() != ref.sha256:
                raise ProtocolError(f"ciphertext {index} does not match the digest its author signed (rewritten)")
        if total > limits.max_event_ciphertext_bytes:
            raise LimitError(f"the event's ciphertexts are over {limits.max_event_ciphertext_bytes} bytes")

    @classmethod
    def from_obj(cls, obj: Any, limits: Limits = DEFAULT_LIMITS) -> Envelope:
        """Parse the wire form.

        Raises:
            InputError / LimitError: malformed or too large.
        """
        if not isinstance(obj, dict) or set(obj) != {"header", "signature", "ciphertexts"}:
            raise InputError("an event must be {header, signature, ciphertexts}")
        header = Header.from_obj(obj["header"], limits)
        signature = obj["signature"]
        if len(b64decode(signature, what="signature")) != 64:
            raise InputError("signature must be 64 bytes of Ed25519")
        blobs = obj["ciphertexts"]
        if not isinstance(blobs, list):
            raise InputError("ciphertexts must be a list")
        decoded: list[bytes | None] = []
        for blob in blobs:
            if blob is None:
                decoded.append(None)
                continue
            if not isinstance(blob, str) or len(blob) > limits.max_ciphertext_bytes * 4 // 3 + 4:
                raise LimitError(f"a ciphertext is over {limits.max_ciphertext_bytes} bytes")
            try:
                decoded.append(base64.b64decode(blob, validate=True))
            except (binascii.Error, ValueError):
                raise InputError("a ciphertext is not valid base64") from None
        envelope = cls(header, signature, tuple(decoded))
        # Measured on the canonical bytes the envelope caches for its id and signature anyway.
        if len(envelope.header_bytes) > limits.max_header_bytes:
            raise LimitError(f"event header is over {limits.max_header_bytes} bytes")
        envelope.check_ciphertexts(limits)
        return envelope

    @classmethod
    def from_json(cls, data: bytes | str, limits: Limits = DEFAULT_LIMITS) -> Envelope:
        """Raises: InputError for invalid JSON, as ``from_obj`` otherwise."""
        try:
            obj = json.loads(data)
        except (ValueError, RecursionError):  # RecursionError: hostile nesting such as "[[[[..."
            raise InputError("event is not valid JSON") from None
        return cls.from_obj(obj, limits)


def sign_header(key: SigningKey, header: Header) -> str:
    return sign_canonical(key, header.to_obj())


def make_body(event_type: str, content: Any, header: Header) -> bytes:
    """The plaintext of an encrypted event. Raises: InputError if content is not signable JSON."""
    return canonical_bytes({"type": event_type, "content": content, "binding": header.binding()})


@dataclass(frozen=True)
class Body:
    type: str
    content: Any


def parse_body(plaintext: bytes, header: Header) -> Body:
    """Parse a decrypted body and check it belongs to ``header``.

    Raises:
        ProtocolError: not a body, or bound to another event (a moved ciphertext).
    """
    try:
        obj = json.loads(plaintext)
    except (ValueError, RecursionError):
        raise ProtocolError("decrypted body is not JSON") from None
    if not isinstance(obj, dict) or set(obj) != {"type", "content", "binding"} or not isinstance(obj["type"], str):
        raise ProtocolError("decrypted body is not {type, content, binding}")
    if obj["binding"] != header.binding():
        raise ProtocolError("ciphertext belongs to another event (binding mismatch): moved or replayed ciphertext")
    return Body(obj["type"], obj["content"])


def build_header(
    *,
    negotiation: str,
    author: str,
    created: datetime,
    audience: Audience,
    prev: str | None,
    ciphertexts: tuple[CiphertextRef, ...] = (),
    public: dict[str, Any] | None = None,
    authority: str = "member",
    checkpoint: dict[str, Any] | None = None,
    nonce: str,
    tags: tuple[str, ...] | None = None,
) -> Header:
    """A header with the given fields; ``nonce`` (``parley.crypto.keys.new_nonce()``) makes its id unique. The
    protocol core draws no randomness of its own: the caller brings it."""
    return Header(
        negotiation=negotiation,
        author=author,
        created=format_time(created),
        nonce=nonce,
        audience=audience,
        prev=prev,
        authority=authority,
        ciphertexts=ciphertexts,
        public=public,
        checkpoint=checkpoint,
        tags=tags,
        v=1 if tags is None else PROTOCOL_VERSION,
    )


__all__ = [
    "Audience", "Body", "CiphertextRef", "Envelope", "Header", "HiddenEvent", "SignatureError", "build_header",
    "entry_from_obj", "hidden_leaf_bytes", "make_body", "parse_body", "parse_tags", "sign_header",
]
