"""Validate events against the log so far; derive who is in a negotiation.

``NegotiationState.accept(envelope)`` is the one rule book: the relay runs it
before appending an event, every client runs it again on every event it
syncs. A failing check raises and leaves the state unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from parley.errors import InputError, ProtocolError, TrustError
from parley.protocol.events import Envelope, HiddenEvent
from parley.protocol.identity import (
    MemberCertificate,
    PartyRecord,
    Revocation,
    RootRotation,
    root_chain,
    rotation_times,
    verify_certificate,
    verify_certificate_in_chain,
    verify_device_revocation,
    verify_revocation,
    verify_rotation,
)
from parley.protocol.public_bodies import (
    Genesis,
    MemberAdd,
    MemberRemove,
    PartyInvite,
    PartyJoin,
    PartyLeave,
    Publication,
    PublicBody,
    PublicStatement,
    RootRotate,
    decode_public,
)
from parley.protocol.times import parse_time
from parley.settings import DEFAULT_LIMITS, Limits

_Public = TypeVar("_Public", bound=PublicBody)

GENESIS = "negotiation.genesis"
PARTY_INVITE = "party.invite"
PARTY_JOIN = "party.join"
PARTY_LEAVE = "party.leave"
MEMBER_ADD = "member.add"
MEMBER_REMOVE = "member.remove"
PUBLIC_STATEMENT = "statement.public"
PUBLICATION = "agreement.publication"
PARTY_ROTATE_ROOT = "party.rotate-root"
#: cleartext event types, and the only ones the relay can tell apart
PUBLIC_TYPES = (GENESIS, PARTY_INVITE, PARTY_JOIN, PARTY_LEAVE, MEMBER_ADD, MEMBER_REMOVE, PUBLIC_STATEMENT,
                PUBLICATION, PARTY_ROTATE_ROOT)


@dataclass
class PartyInNegotiation:
    record: PartyRecord
    status: str  # invited | joined | left
    #: root keys first to current: the record's key, then each rotation's new key
    root_chain: list[str] = field(default_factory=list)
    #: when each rotation retired the previous root (one entry per rotation)
    retired_at: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.root_chain:
            self.root_chain = [self.record.root_key]

    @property
    def party_id(self) -> str:
        return self.record.party_id

    @property
    def root_key(self) -> str:
        """The party's current root key: the one that certifies and revokes now."""
        return self.root_chain[-1]


@dataclass
class NegotiationState:
    """What the log says so far: parties, member devices, revocations, event ids."""

    negotiation_id: str
    limits: Limits = DEFAULT_LIMITS
    parties: dict[str, PartyInNegotiation] = field(default_factory=dict)
    members: dict[str, MemberCertificate] = field(default_factory=dict)
    revoked: dict[str, datetime] = field(default_factory=dict)
    event_index: dict[str, int] = field(default_factory=dict)
    size: int = 0
    head: str | None = None
    #: events of the log this member received only as hidden entries (``HiddenEvent``)
    hidden: int = 0

    # ---- queries -------------------------------------------------------------------------------
    @property
    def convener(self) -> str | None:
        """The party whose genesis opened the negotiation (it chairs the agenda)."""
        return next(iter(self.parties), None)

    def joined_parties(self) -> list[str]:
        return sorted(pid for pid, p in self.parties.items() if p.status == "joined")

    def is_current_member(self, device_key_id: str, at: datetime) -> bool:
        cert = self.members.get(device_key_id)
        if cert is None:
            return False
        revoked_at = self.revoked.get(device_key_id)
        if revoked_at is not None and revoked_at <= at:
            return False
        party = self.parties.get(cert.party_id)
        if party is None or party.status != "joined":
            return False
        return parse_time(cert.not_before) <= at <= parse_time(cert.not_after)

    def current_members(self, at: datetime, parties: Iterable[str] | None = None,
                        roles: Iterable[str] | None = None) -> list[MemberCertificate]:
        """Certificates of members who may read an event created at ``at``."""
        wanted_parties = None if parties is None else set(parties)
        wanted_roles = None if roles is None else set(roles)
        out = []
        for device, cert in sorted(self.members.items()):
            if not self.is_current_member(device, at):
                continue
            if wanted_parties is not None and cert.party_id not in wanted_parties:
                continue
            if wanted_roles is not None and cert.role not in wanted_roles:
                continue
            out.append(cert)
        return out

    # ---- the rule book ---------------------------------------------------------------------------
    def accept(self, envelope: Envelope | HiddenEvent, *, now: datetime | None = None, committed: bool = False,
               verified_key: str | None = None) -> None:
        """Validate ``envelope`` as the next event of this log and apply it (a hidden entry: only its id is kept).

        ``now`` (the relay's clock) adds the clock-skew check; clients replaying
        history pass None. Two shortcuts exist for the relay only; clients never use them, since for
        them the relay is untrusted:

        - ``committed=True``: the relay reads back its own log (rows a relay process checked in full
          before committing them). The author's signature and the ciphertext digests are not checked
          again; every rule of the workflow still is.
        - ``verified_key``: a front process of this relay already checked the author's signature with
          this key. The check is skipped only if it is the author's key in this state; otherwise the
          signature is checked here.

        Raises:
            ProtocolError: the event breaks a rule (names which).
            TrustError: a certificate or revocation does not chain to the party root.
            SignatureError: the author's signature fails.
            InputError / LimitError: malformed content or over a limit.
        """
        if isinstance(envelope, HiddenEvent):
            self._accept_hidden(envelope)
            return
        header = envelope.header
        if header.negotiation != self.negotiation_id:
            raise ProtocolError("event belongs to another negotiation")
        event_id = envelope.event_id
        if event_id in self.event_index:
            raise ProtocolError(f"event {event_id[:12]} is already in the log (replayed event)")
        if not committed:
            envelope.check_ciphertexts(self.limits)
        created = parse_time(header.created)
        if now is not None and abs((now - created).total_seconds()) > self.limits.max_clock_skew_seconds:
            raise ProtocolError("event creation time is too far from the relay's clock")
        if self.size == 0:
            mutation = self._check_genesis(envelope, created, committed, verified_key)
        else:
            if header.prev is None or header.prev not in self.event_index:
                raise ProtocolError("event does not name an earlier event of this log as seen (prev)")
            mutation = self._check_event(envelope, created, committed, verified_key)
        mutation()
        self.event_index[event_id] = self.size
        self.size += 1
        self.head = event_id

    def _accept_hidden(self, hidden: HiddenEvent) -> None:
        """Take in an event this member may not see (its party is outside the audience): only its id, so that a
        later event may name it as ``prev``. Its rules were checked by the relay and by every member it was for.

        Raises:
            ProtocolError: the log would open with it, or its id is already in the log.
        """
        if self.size == 0:
            raise ProtocolError("a log cannot open with an event hidden from its members")
        if hidden.event_id in self.event_index:
            raise ProtocolError(f"event {hidden.event_id[:12]} is already in the log (replayed event)")
        self.event_index[hidden.event_id] = self.size
        self.hidden += 1
        self.size += 1
        self.head = hidden.event_id

    def _check_genesis(self, envelope: Envelope, created: datetime, committed: bool, verified_key: str | None):
        header = envelope.header
        if header.public_type != GENESIS:
            raise ProtocolError("the first event of a negotiation must be its genesis")
        if header.prev is not None:
            raise ProtocolError("genesis has no previous event")
        genesis = _content(header.public, Genesis)
        record = PartyRecord.from_obj(genesis.party)
        chain = root_chain(record, genesis.rotations)
        retired = rotation_times(genesis.rotations)
        certs = _certificates(genesis.certificates, record.party_id, chain, retired)
        author_cert = certs.get(header.author)
        if author_cert is None:
            raise ProtocolError("genesis must be authored by a device certified in it")
        _check_author(author_cert, record.party_id, chain, retired, created, header.authority)
        _check_signature(envelope, author_cert.signing_key, committed, verified_key)
        if header.audience.parties != (record.party_id,) or header.audience.roles is not None:
            raise ProtocolError("genesis audience must be the convening party")

        def apply() -> None:
            self.parties[record.party_id] = PartyInNegotiation(record, "joined", chain, retired)
            self.members.update(certs)

        return apply

    def _check_event(self, envelope: Envelope, created: datetime, committed: bool, verified_key: str | None):
        header = envelope.header
        kind = header.public_type
        author_cert = self.members.get(header.author)
        if kind == PARTY_JOIN:
            certs_obj = _content(header.public, PartyJoin).certificates
            party_ids = {c.get("party_id") for c in certs_obj if isinstance(c.get("party_id"), str)}
            if len(party_ids) != 1:
                raise ProtocolError("a join carries the certificates of exactly one party")
            party = self.parties.get(party_ids.pop())
            if party is None or party.status != "invited":
                raise ProtocolError("only an invited party can join")
            certs = _certificates(certs_obj, party.party_id, party.root_chain, party.retired_at)
            if any(d in self.members and self.members[d].party_id != party.party_id for d in certs):
                raise ProtocolError("a join certifies a device that is a member of another party")
            author_cert = certs.get(header.author)
            if author_cert is None:
                raise ProtocolError("a join must be authored by a device certified in it")
            _check_author(author_cert, party.party_id, party.root_chain, party.retired_at, created, header.authority)
            _check_signature(envelope, author_cert.signing_key, committed, verified_key)
            self._check_audience(envelope, allow_invited=True)

            def apply_join() -> None:
                party.status = "joined"
                self.members.update(certs)

            return apply_join

        if author_cert is None:
            raise ProtocolError("author is not a member of this negotiation (unknown device key)")
        if not self.is_current_member(header.author, created):
            raise ProtocolError("author is not a current member (removed, revoked, expired or party left)")
        _check_signature(envelope, author_cert.signing_key, committed, verified_key)
        if header.authority == "head" and author_cert.role != "head":
            raise ProtocolError("only a head of delegation may act with head authority")
        invited = None
        invited_chain: list[str] = []
        if kind == PARTY_INVITE:
            invitation = _content(header.public, PartyInvite)
            invited = PartyRecord.from_obj(invitation.party)
            invited_chain = root_chain(invited, invitation.rotations)
            invited_retired = rotation_times(invitation.rotations)
        self._check_audience(envelope, allow_invited=kind == PARTY_INVITE,
                             newcomer=None if invited is None else invited.party_id)

        if kind is None:
            return _no_change
        if invited is not None:
            record = invited
            if record.party_id in self.parties and self.parties[record.party_id].status != "left":
                raise ProtocolError(f"party '{record.name}' is already invited or in")
            if len(self.parties) >= self.limits.max_parties:
                raise ProtocolError(f"a negotiation holds at most {self.limits.max_parties} parties")

            def apply_invite() -> None:
                self.parties[record.party_id] = PartyInNegotiation(record, "invited", invited_chain, invited_retired)

            return apply_invite
        if kind == PARTY_LEAVE:
            _content(header.public, PartyLeave)
            party = self.parties[author_cert.party_id]

            def apply_leave() -> None:
                party.status = "left"

            return apply_leave
        if kind == MEMBER_ADD:
            cert = MemberCertificate.from_obj(_content(header.public, MemberAdd).certificate)
            if cert.party_id != author_cert.party_id:
                raise ProtocolError("a member can only add certificates of its own party")
            verify_certificate(cert, self.parties[cert.party_id].root_key, party_id=cert.party_id)
            if cert.device_key_id in self.members:
                raise ProtocolError("that device is already a member")
            if cert.linked_by is not None:
                self._check_link(cert, created)

            def apply_add() -> None:
                self.members[cert.device_key_id] = cert

            return apply_add
        if kind == MEMBER_REMOVE:
            revocation = Revocation.from_obj(_content(header.public, MemberRemove).revocation)
            party = self.parties.get(revocation.party_id)
            if party is None:
                raise ProtocolError("revocation for a party not in this negotiation")
            target = self.members.get(revocation.device_key_id)
            if target is None or target.party_id != revocation.party_id:
                raise ProtocolError("revocation names a device that is not a member of that party")
            revoked_at = parse_time(revocation.revoked_at)
            if revocation.by is None:
                verify_revocation(revocation, party.root_key, party_id=party.party_id)
                # The root removing a person's root-issued device removes every device linked from it.
                gone = [d for d, c in self.members.items() if revocation.device_key_id in c.chain_ids()]
            else:
                # Signed by a device of the same person (any member of the party may carry it here).
                revoker = self.members.get(revocation.by)
                if revoker is None or not self.is_current_member(revocation.by, revoked_at):
                    raise ProtocolError("the device that signed this revocation is not a current member")
                verify_device_revocation(revocation, revoker, target)
                gone = [revocation.device_key_id]

            def apply_remove() -> None:
                for device in gone:
                    if device not in self.revoked or self.revoked[device] > revoked_at:
                        self.revoked[device] = revoked_at

            return apply_remove
        if kind == PUBLIC_STATEMENT:
            _content(header.public, PublicStatement)  # its text: non-empty, as declared
            if header.authority != "head":
                raise ProtocolError("only a head of delegation may make a public statement")
            return _no_change
        if kind == PARTY_ROTATE_ROOT:
            rotation = RootRotation.from_obj(_content(header.public, RootRotate).rotation)
            party = self.parties[author_cert.party_id]
            if header.authority != "head":
                raise ProtocolError("only a head of delegation may announce a root key rotation")
            verify_rotation(rotation, party.party_id, party.root_key)

            def apply_rotation() -> None:
                party.root_chain.append(rotation.new_root_key)
                party.retired_at.append(rotation.rotated_at)

            return apply_rotation
        if kind == PUBLICATION:
            from parley.protocol.agreement import check_publication

            if header.authority != "head":
                raise ProtocolError("only a head of delegation may publish an agreement")
            publication = _content(header.public, Publication)
            heads = {party_id: {c.device_key_id: c.signing_key for c in self.current_members(created, [party_id], ["head"])}
                     for party_id in self.joined_parties()}
            check_publication(publication, self.negotiation_id, heads)
            return _no_change
        raise ProtocolError(f"unknown public event type '{kind}'")

    def _check_link(self, cert: MemberCertificate, created: datetime) -> None:
        """A linked device (its chain already verified to the party root): the device that linked it must be
        a current member here, not revoked, and the person must stay within the devices the root allowed.

        Raises:
            ProtocolError: a certifier unknown here or removed, or one device too many.
        """
        linker = cert.parent.device_key_id
        if linker not in self.members or not self.is_current_member(linker, created) or linker in self.revoked:
            raise ProtocolError(f"the device that linked this device of '{cert.member}' is not a current member "
                                "(removed, revoked or unknown here)")
        person = cert.person_id
        devices = [d for d, c in self.members.items() if c.person_id == person and d not in self.revoked]
        allowed = cert.anchor.max_devices or 1
        if len(devices) >= allowed:
            raise ProtocolError(f"'{cert.member}' has {len(devices)} devices: the party root allowed {allowed}")

    def devices_of(self, device_key_id: str) -> list[MemberCertificate]:
        """Every certified device of the person holding ``device_key_id`` (revoked ones included)."""
        cert = self.members.get(device_key_id)
        if cert is None:
            return []
        return [c for _, c in sorted(self.members.items()) if c.person_id == cert.person_id]

    def _check_audience(self, envelope: Envelope, *, allow_invited: bool, newcomer: str | None = None) -> None:
        header = envelope.header
        allowed = {"joined", "invited"} if allow_invited else {"joined"}
        for party_id in header.audience.parties:
            if party_id == newcomer:
                continue
            party = self.parties.get(party_id)
            if party is None or party.status not in allowed:
                raise ProtocolError("audience names a party that is not in this negotiation")
        if header.ciphertexts:
            # Each recipient must be one of current_members(created, parties, roles). Asked recipient by
            # recipient: the writer runs this for every event, and listing every member each time costs
            # in proportion to the negotiation's size, not the event's.
            created = parse_time(header.created)
            parties, roles = set(header.audience.parties), header.audience.roles
            for device_key_id in header.recipients:
                cert = self.members.get(device_key_id)
                if (cert is None or cert.party_id not in parties or (roles is not None and cert.role not in roles)
                        or not self.is_current_member(device_key_id, created)):
                    raise ProtocolError("event is encrypted to devices outside its audience")


def _check_author(cert: MemberCertificate, party_id: str, chain: list[str], retired: list[str], created: datetime,
                  authority: str) -> None:
    """The rules ``is_current_member`` applies to everyone else, for an author certified in its own event."""
    verify_certificate_in_chain(cert, party_id, chain, retired, at=created)
    if authority == "head" and cert.role != "head":
        raise ProtocolError("only a head of delegation may act with head authority")


def _no_change() -> None:
    return None



def _check_signature(envelope: Envelope, signing_key: str, committed: bool, verified_key: str | None) -> None:
    """Raises: SignatureError, unless the event is read back from the relay's own log or was checked
    with this very key by a front process of the relay (see ``NegotiationState.accept``)."""
    if committed or (verified_key is not None and verified_key == signing_key):
        return
    envelope.verify_signature(signing_key)

def _content(public: dict | None, model: type[_Public]) -> _Public:
    """The typed content of a cleartext event, as its declaration (``parley.protocol.public_bodies``) reads it.

    Raises:
        InputError: content that is not an object, a field the kind does not hold, or one missing or malformed.
    """
    content = None if public is None else public.get("content")
    body = decode_public(public["type"] if public else "", content)
    if not isinstance(body, model):  # the header's type chose the declaration: the caller's must be that one
        raise ProtocolError(f"a {body.what} where a {model.what} was expected")
    return body


def _certificates(objs: list[dict], party_id: str, chain: list[str], retired: list[str]) -> dict[str, MemberCertificate]:
    """The certificates a genesis or join carries (a non-empty list of objects, as declared), each verified.

    Raises:
        InputError: a malformed certificate, or a device certified twice.  TrustError: one not of the party's root.
    """
    certs: dict[str, MemberCertificate] = {}
    for obj in objs:
        cert = MemberCertificate.from_obj(obj)
        verify_certificate_in_chain(cert, party_id, chain, retired)
        if cert.device_key_id in certs:
            raise InputError("a device is certified twice")
        certs[cert.device_key_id] = cert
    return certs


def derive_state(negotiation_id: str, envelopes: Iterable[Envelope], limits: Limits = DEFAULT_LIMITS) -> NegotiationState:
    """Replay a whole log. Raises whatever ``accept`` raises for the first bad event."""
    state = NegotiationState(negotiation_id, limits)
    for envelope in envelopes:
        state.accept(envelope)
    return state


__all__ = ["NegotiationState", "PUBLIC_TYPES", "TrustError", "derive_state"]
