"""Builders for protocol tests: real keys, real certificates, real signed and sealed envelopes.

No mocks: every party has an Ed25519 root and a ``PartyRecord``; every device a
``MemberCertificate`` issued by that root; every event is built the way
``parley.client.sdk.Client`` builds it (``build_header``, ``make_body``, ``seal``,
``sign_header``). ``Negotiation`` keeps a ``NegotiationState`` and the accepted log.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from parley.crypto.audience_tags import audience_tags
from parley.crypto.keys import EncryptionKey, SigningKey, new_nonce
from parley.crypto.seal import seal_padded
from parley.protocol.events import Audience, CiphertextRef, Envelope, build_header, make_body, sign_header
from parley.protocol.identity import MemberCertificate, PartyRecord, Revocation
from parley.protocol.state import (
    GENESIS,
    MEMBER_ADD,
    MEMBER_REMOVE,
    PARTY_INVITE,
    PARTY_JOIN,
    PARTY_LEAVE,
    PUBLIC_STATEMENT,
    NegotiationState,
)

#: the fixed "now" of protocol tests; certificates run from NOW - 1 h to NOW + 1 year
NOW = datetime(2025, 6, 2, 10, 0, 0, tzinfo=UTC)
_HEAD = object()  # sentinel: "prev = the current head of the log"


@dataclass
class Device:
    """A member device: signing key, age identity and its certificate."""

    signing: SigningKey
    encryption: EncryptionKey
    cert: MemberCertificate

    @property
    def id(self) -> str:
        return self.signing.key_id


@dataclass
class Party:
    name: str
    root: SigningKey
    record: PartyRecord
    devices: list[Device] = field(default_factory=list)

    @classmethod
    def create(cls, name: str, *, head: str = "Head") -> Party:
        root = SigningKey.generate()
        party = cls(name, root, PartyRecord.create(root, name))
        party.device(head, role="head")
        return party

    @property
    def id(self) -> str:
        return self.record.party_id

    @property
    def head(self) -> Device:
        return self.devices[0]

    def device(self, member: str, *, role: str = "delegate", not_before: datetime | None = None,
               not_after: datetime | None = None, issuer: SigningKey | None = None) -> Device:
        """A new device certified by this party's root (or by ``issuer``, to forge one)."""
        signing, encryption = SigningKey.generate(), EncryptionKey.generate()
        cert = MemberCertificate.issue(
            issuer or self.root, member=member, role=role, signing_key=signing.public_b64,
            encryption_key=encryption.recipient,
            not_before=not_before or NOW - timedelta(hours=1),
            not_after=not_after or NOW + timedelta(days=365),
        )
        device = Device(signing, encryption, cert)
        if issuer is None:
            self.devices.append(device)
        return device

    def certificates(self) -> list[dict[str, Any]]:
        return [d.cert.to_obj() for d in self.devices]


class Negotiation:
    """A negotiation under construction: the rule book's state and the log it accepted."""

    def __init__(self, negotiation_id: str = "n-test") -> None:
        self.id = negotiation_id
        self.state = NegotiationState(negotiation_id)
        self.log: list[Envelope] = []

    # ---- building (nothing is accepted here) --------------------------------------------------
    def _prev(self, prev: Any) -> str | None:
        return self.state.head if prev is _HEAD else prev

    def public(self, author: Device, event_type: str, content: Any, *, parties: Sequence[str],
               authority: str = "member", created: datetime = NOW, prev: Any = _HEAD,
               sign_with: SigningKey | None = None, author_id: str | None = None) -> Envelope:
        header = build_header(nonce=new_nonce(),
            negotiation=self.id, author=author_id or author.id, created=created,
            audience=Audience(tuple(sorted(parties))), prev=self._prev(prev),
            public={"type": event_type, "content": content}, authority=authority)
        return Envelope(header, sign_header(sign_with or author.signing, header), ())

    def encrypted(self, author: Device, event_type: str, content: Any, *, readers: Sequence[Device],
                  parties: Sequence[str], roles: Sequence[str] | None = None, authority: str = "member",
                  created: datetime = NOW, prev: Any = _HEAD, sign_with: SigningKey | None = None,
                  author_id: str | None = None) -> Envelope:
        """One ciphertext for all ``readers``, as ``Client.post`` makes it (audience tags padded to every device
        of the negotiation)."""
        nonce = new_nonce()
        tags = audience_tags(author.encryption.identity, nonce, [r.cert.encryption_key for r in readers],
                             len(self.state.members))
        header = build_header(nonce=nonce,
            negotiation=self.id, author=author_id or author.id, created=created,
            audience=Audience(tuple(sorted(parties)), None if roles is None else tuple(sorted(roles))),
            prev=self._prev(prev), authority=authority, tags=tags)
        blob = seal_padded(make_body(event_type, content, header), [r.cert.encryption_key for r in readers])
        ref = CiphertextRef(hashlib.sha256(blob).hexdigest(), tuple(sorted(r.id for r in readers)))
        header = replace(header, ciphertexts=(ref,))
        return Envelope(header, sign_header(sign_with or author.signing, header), (blob,))

    # ---- accepting ----------------------------------------------------------------------------
    def accept(self, envelope: Envelope) -> Envelope:
        self.state.accept(envelope)
        self.log.append(envelope)
        return envelope

    def genesis(self, party: Party, **kw: Any) -> Envelope:
        return self.accept(self.genesis_event(party, **kw))

    def genesis_event(self, party: Party, **kw: Any) -> Envelope:
        content = {"party": party.record.to_obj(), "certificates": party.certificates()}
        kw.setdefault("prev", None)
        return self.public(party.head, GENESIS, content, parties=[party.id], **kw)

    def invite_event(self, by: Device, party: Party, **kw: Any) -> Envelope:
        parties = sorted({*self.state.joined_parties(), party.id})
        return self.public(by, PARTY_INVITE, {"party": party.record.to_obj()}, parties=parties, **kw)

    def join_event(self, party: Party, *, certificates: list[dict[str, Any]] | None = None,
                   author: Device | None = None, **kw: Any) -> Envelope:
        parties = sorted({*self.state.joined_parties(), party.id})
        content = {"certificates": party.certificates() if certificates is None else certificates}
        return self.public(author or party.head, PARTY_JOIN, content, parties=parties, **kw)

    def invite(self, by: Device, party: Party) -> Envelope:
        return self.accept(self.invite_event(by, party))

    def join(self, party: Party) -> Envelope:
        return self.accept(self.join_event(party))

    def add_member(self, by: Device, device: Device, **kw: Any) -> Envelope:
        return self.accept(self.public(by, MEMBER_ADD, {"certificate": device.cert.to_obj()},
                                       parties=self.state.joined_parties(), **kw))

    def remove_member(self, by: Device, party: Party, device: Device, revoked_at: datetime, **kw: Any) -> Envelope:
        revocation = Revocation.issue(party.root, device.id, revoked_at, "left the delegation")
        return self.accept(self.public(by, MEMBER_REMOVE, {"revocation": revocation.to_obj()},
                                       parties=self.state.joined_parties(), **kw))

    def statement(self, head: Device, text: str, **kw: Any) -> Envelope:
        return self.accept(self.public(head, PUBLIC_STATEMENT, {"text": text}, authority="head",
                                       parties=self.state.joined_parties(), **kw))

    def leave(self, by: Device, **kw: Any) -> Envelope:
        return self.accept(self.public(by, PARTY_LEAVE, {}, parties=self.state.joined_parties(), **kw))

    def message(self, author: Device, text: str, *, readers: Sequence[Device], **kw: Any) -> Envelope:
        parties = kw.pop("parties", None) or sorted({r.cert.party_id for r in readers})
        return self.accept(self.encrypted(author, "message", {"text": text}, readers=readers, parties=parties,
                                          **kw))

    def members_of(self, *parties: Party) -> list[Device]:
        return [d for p in parties for d in p.devices if self.state.is_current_member(d.id, NOW)]


def snapshot(state: NegotiationState) -> tuple:
    """Everything observable about a state, to prove a failed ``accept`` changed nothing."""
    return (
        state.size, state.head, dict(state.event_index),
        {pid: (p.status, p.record) for pid, p in state.parties.items()},
        dict(state.members), dict(state.revoked),
    )
