"""The client workflow: enrol, pin trust, open negotiations, sync with full verification, post.

Every sync re-checks everything the relay serves: the checkpoint signature,
consistency with the last checkpoint this profile verified (no rollback, no
fork), the Merkle root recomputed from the served events, each event against
the pure protocol core, each party's root key against the pinned one, and the
checkpoints other parties gossip inside their events. Nothing is stored
locally unless all of it passed.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from parley.client import sync as logsync
from parley.client.acts import act
from parley.client.cache import ClientCache
from parley.client.membership import carry_membership
from parley.client.profile import Identity, Profile, ProfileLock
from parley.client.sync import Posted, SyncResult
from parley.client.transport import RelayConnection
from parley.crypto.audience_tags import audience_tags
from parley.crypto.fingerprint import fingerprint_matches
from parley.crypto.keys import EncryptionKey, SigningKey, new_nonce
from parley.crypto.local_store import local_store_key
from parley.crypto.seal import open_padded, seal_padded
from parley.errors import (
    ConfigError,
    ForbiddenError,
    InputError,
    NotFoundError,
    ParleyError,
    ProtocolError,
    TransportError,
    TrustError,
)
from parley.protocol.bodies import decode_content
from parley.protocol.events import (
    Audience,
    CiphertextRef,
    Envelope,
    build_header,
    entry_from_obj,
    make_body,
    parse_body,
    sign_header,
)
from parley.protocol.identity import (
    DEFAULT_MAX_DEVICES,
    MemberCertificate,
    PartyRecord,
    Revocation,
    RootRotation,
    root_chain,
    rotation_times,
    verify_certificate_in_chain,
)
from parley.protocol.state import (
    GENESIS,
    PARTY_INVITE,
    PARTY_JOIN,
    PUBLIC_STATEMENT,
    NegotiationState,
)
from parley.protocol.times import format_time, parse_time
from parley.settings import DEFAULT_LIMITS, Limits
from parley.tlog.checkpoint import checkpoint_origin
from parley.tlog.note import Verifier

CERTIFICATE_LIFETIME = timedelta(days=365)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _b64d(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


class Client:
    """One member device talking to one relay."""

    def __init__(self, profile: Profile, *, transport: httpx.BaseTransport | None = None,
                 clock: Callable[[], datetime] = _utcnow, limits: Limits = DEFAULT_LIMITS) -> None:
        self.profile = profile
        self.clock = clock
        self.limits = limits
        self.conn = RelayConnection(profile.relay_url, profile.identity.signing, transport=transport)
        self.cache = ClientCache(profile.home / "cache.db", local_store_key(profile.identity.encryption))
        self._states: dict[str, NegotiationState] = {}
        #: held for every act on the profile; other processes on the same profile wait (see ProfileLock)
        self.lock = ProfileLock(profile.home, limits.profile_lock_seconds)
        #: work from the verified local copy and an outbox when the relay cannot be reached (parley.client.offline)
        self.offline_ok = False
        #: negotiations shown from the local copy this session: their last verified checkpoint
        self.offline: dict[str, dict[str, Any]] = {}
        self._acts = 0  # depth of nested acts in this process
        self._listed: dict[str, SyncResult] = {}  # negotiations listed in the current act, and what it verified

    @contextmanager
    def one_act(self) -> Iterator[None]:
        """One act under the profile lock (re-entrant). Inside it a negotiation is listed once: the lock keeps
        this profile's other processes out, and this process's own posts append through their
        acknowledgements, so a second sync would only fetch what others posted meanwhile, which is no
        different from its arriving a moment later.

        Raises:
            BusyError: another process kept this profile busy too long.
        """
        with self.lock:
            self._acts += 1
            try:
                yield
            finally:
                self._acts -= 1
                if self._acts == 0:
                    self._listed.clear()
                    self.cache.commit()  # what the act left open (an acknowledged cosignature: witness.post_event)

    def close(self) -> None:
        self.conn.close()
        self.cache.close()

    @property
    def identity(self) -> Identity:
        return self.profile.identity

    # ---- enrolment and members ------------------------------------------------------------------------
    @classmethod
    def create_party(cls, home: Path, *, relay_url: str, party_name: str, member: str, token: str,
                     passphrase: str | None, role: str = "head", transport: httpx.BaseTransport | None = None,
                     clock: Callable[[], datetime] = _utcnow) -> Client:
        """Create a party (root key) and its first member device, and enrol both at the relay.

        Raises:
            ConfigError: a profile exists in ``home``.
            AuthError: the token is unknown or used.  InputError: the token admits another party name.
            TransportError: relay unreachable.
        """
        if Profile.exists(home):
            raise ConfigError(f"a profile already exists in {home}", hint="use another --home")
        root = SigningKey.generate()
        record = PartyRecord.create(root, party_name)
        identity = _new_identity(root, member=member, role=role, now=clock(), keep_root=True)
        conn = RelayConnection(relay_url, identity.signing, transport=transport)
        try:
            info = conn.get("/v1/relay")
            conn.post("/v1/parties", {"token": token, "party": record.to_obj(),
                                      "certificates": [identity.certificate.to_obj()]})
        finally:
            conn.close()
        profile = Profile.create(home, member=member, party=record, relay_url=relay_url, identity=identity,
                                 passphrase=passphrase)
        profile.relay_vkey = info["vkey"]
        profile.save()
        return cls(profile, transport=transport, clock=clock)

    @act
    def add_member(self, home: Path, *, member: str, role: str, passphrase: str | None) -> Profile:
        """Issue a certificate for a new member device and write its profile (party administrator only).

        Raises:
            ForbiddenError: this profile does not hold the party root key.
            ConfigError: a profile exists in ``home``.
        """
        root = self._root()
        identity = _new_identity(root, member=member, role=role, now=self.clock(), party_id=self.profile.party.party_id)
        self.conn.post(f"/v1/parties/{self.profile.party.party_id}/devices",
                       {"certificate": identity.certificate.to_obj()})
        profile = Profile.create(home, member=member, party=self.profile.party, relay_url=self.profile.relay_url,
                                 identity=identity, passphrase=passphrase)
        profile.relay_vkey = self.profile.relay_vkey
        profile.trust.update({k: replace(v) for k, v in self.profile.trust.items()})
        profile.save()
        carry_membership(self)
        return profile

    @act
    def remove_member(self, device_key_id: str, reason: str = "removed") -> Revocation:
        """Revoke a member device at the relay and in every negotiation of this profile (if a post fails part
        way, ``parley.client.membership.carry_membership`` finishes the others).

        Raises:
            ForbiddenError: not the party administrator.
        """
        root = self._root()
        revocation = Revocation.issue(root, device_key_id, self.clock(), reason, party_id=self.profile.party.party_id)
        self.conn.post(f"/v1/parties/{self.profile.party.party_id}/revocations", {"revocation": revocation.to_obj()})
        carry_membership(self)
        return revocation

    @act
    def rotate_root(self, passphrase: str | None = None) -> RootRotation:
        """Replace the party root key: signed by the old root and the new one, recorded at the relay and in
        every negotiation the party is in. Members' certificates stay valid; new ones chain to the new root.

        ``passphrase`` rewrites this profile's keystore with the new root (None: in memory only).

        Raises:
            ForbiddenError: this profile does not hold the party root key.
        """
        from parley.crypto.keystore import save_keystore

        old_root = self._root()
        party_id = self.profile.party.party_id
        new_root = SigningKey.generate()
        rotation = RootRotation.issue(party_id, old_root, new_root, self.clock())
        self.conn.post(f"/v1/parties/{party_id}/rotations", {"rotation": rotation.to_obj()})
        self.identity.root = new_root
        if passphrase is not None:
            save_keystore(self.profile.home / "keystore.age", self.identity.to_secrets(), passphrase)
        own = self.profile.trust[party_id]
        self.profile.pin(self.profile.party, verified=True, chain=[*own.chain, new_root.public_b64])
        carry_membership(self)
        return rotation

    def _root(self) -> SigningKey:
        if self.identity.root is None:
            raise ForbiddenError("only the party administrator's profile holds the party root key")
        return self.identity.root

    # ---- directory and trust ------------------------------------------------------------------------
    def fetch_party(self, party_id: str) -> tuple[PartyRecord, list[MemberCertificate]]:
        """A party's record and its unrevoked member certificates, each verified against its current root.

        Raises:
            NotFoundError: unknown party.  TrustError: the relay served a key the party did not sign,
            a broken rotation chain, or a root key other than the pinned one.
        """
        record, _, _, certs = self.fetch_party_chain(party_id)
        return record, certs

    def fetch_party_chain(self, party_id: str) -> tuple[PartyRecord, list[str], list[dict], list[MemberCertificate]]:
        """Like ``fetch_party``, also returning the verified root chain and the rotations that make it."""
        answer = self.conn.get(f"/v1/parties/{party_id}")
        record = PartyRecord.from_obj(answer["party"])
        if record.party_id != party_id:
            raise TrustError("the relay answered with another party")
        rotations = answer.get("rotations", [])
        chain = root_chain(record, rotations)
        pinned = self.profile.trust.get(party_id)
        if pinned is not None and chain[: len(pinned.chain)] != pinned.chain and pinned.chain[: len(chain)] != chain:
            raise TrustError(f"the relay serves a root key for '{record.name}' that differs from the pinned one")
        certs = []
        for device in answer["devices"]:
            if device["revoked_at"] is not None:
                continue
            cert = MemberCertificate.from_obj(device["certificate"])
            verify_certificate_in_chain(cert, party_id, chain, rotation_times(rotations))
            certs.append(cert)
        return record, chain, rotations, certs

    def list_parties(self) -> list[PartyRecord]:
        return [PartyRecord.from_obj(obj) for obj in self.conn.get("/v1/parties")["parties"]]

    def find_party(self, name_or_id: str) -> PartyRecord:
        """Raises: NotFoundError when no party has that name or id."""
        for record in self.list_parties():
            if name_or_id in (record.party_id, record.name):
                return record
        raise NotFoundError(f"no party named '{name_or_id}' at this relay")

    def trust_party(self, party_id: str, fingerprint: str | None) -> None:
        """Pin a party's root key; with ``fingerprint`` (compared out of band), mark it verified, and, on a
        head's device, record the verification for the whole party (``parley.client.trust``).

        Raises:
            TrustError: the fingerprint does not match.
        """
        record, chain, _, _ = self.fetch_party_chain(party_id)
        if fingerprint is not None and not fingerprint_matches(chain[-1], fingerprint):
            # Checked before pinning, so a relay's impostor is never remembered at all.
            raise TrustError(f"the fingerprint of '{record.name}' does NOT match: do not trust this key")
        self.profile.pin(record, verified=fingerprint is not None, chain=chain)
        if fingerprint is not None and self.profile.role == "head":
            from parley.client.trust import record_party_trust

            record_party_trust(self, party_id, True)

    def verify_pinned(self, party_id: str, fingerprint: str) -> None:
        """Mark a pinned party verified after an out-of-band fingerprint check (no network for the check);
        a head's verification is recorded for its whole party.

        Raises:
            InputError: not pinned.  TrustError: the fingerprint does not match.
        """
        self.profile.verify_party(party_id, fingerprint)
        if self.profile.role == "head":
            from parley.client.trust import record_party_trust

            record_party_trust(self, party_id, True)

    def distrust_party(self, party_id: str) -> int:
        """Withdraw this device's verification of a party; a head withdraws it for its whole party.

        Returns the number of negotiations the withdrawal was recorded in.

        Raises:
            InputError: not pinned, or one's own party.
        """
        if party_id == self.profile.party.party_id:
            raise InputError("your own party is always trusted")
        self.profile.unverify_party(party_id)
        if self.profile.role != "head":
            return 0
        from parley.client.trust import record_party_trust

        return record_party_trust(self, party_id, False)

    # ---- negotiations -------------------------------------------------------------------------------
    @act
    def create_negotiation(self) -> str:
        """Open a new negotiation convened by this party. Returns its id."""
        negotiation_id = "n-" + secrets.token_hex(8)
        _, _, rotations, certs = self.fetch_party_chain(self.profile.party.party_id)
        extra = {"rotations": rotations} if rotations else {}
        header = build_header(nonce=new_nonce(),
            negotiation=negotiation_id, author=self.identity.device_key_id, created=self.clock(),
            audience=Audience((self.profile.party.party_id,)), prev=None,
            public={"type": GENESIS, "content": {"party": self.profile.party.to_obj(),
                                                 "certificates": [c.to_obj() for c in certs], **extra}})
        envelope = Envelope(header, sign_header(self.identity.signing, header), ())
        answer = self.conn.post("/v1/negotiations", raw=envelope.to_json())
        self._acknowledged(negotiation_id, envelope, answer)
        return negotiation_id

    def negotiations(self) -> list[dict[str, Any]]:
        """The relay's list of this party's negotiations (with ``offline_ok`` and the relay away: the local
        copy's, each with its verified size)."""
        try:
            return self.conn.get("/v1/negotiations")["negotiations"]
        except TransportError as exc:
            from parley.client import offline

            if not (self.offline_ok and offline.unreachable(exc)):
                raise
            return [{"negotiation_id": n, "size": self.cache.checkpoint(n)[0]} for n in self.cache.negotiations()]

    @act
    def invite(self, negotiation_id: str, party_id: str) -> Posted:
        """Invite a party whose root key this profile has pinned.

        Raises:
            TrustError: the party is not pinned (fetch and verify it first).
        """
        pinned = self.profile.trust.get(party_id)
        if pinned is None:
            raise TrustError("pin the party first (parley party trust) before inviting it")
        record, _, rotations, _ = self.fetch_party_chain(party_id)
        state = self.sync_state(negotiation_id)
        audience = sorted(set(state.joined_parties()) | {party_id})
        content = {"party": record.to_obj(), **({"rotations": rotations} if rotations else {})}
        posted = self._post_public(negotiation_id, PARTY_INVITE, content, parties=audience)
        self._carry_party_trust(negotiation_id)
        return posted

    @act
    def join(self, negotiation_id: str) -> Posted:
        """Join a negotiation this profile's party was invited to."""
        state = self.sync_state(negotiation_id)
        own = self.profile.party.party_id
        if own not in state.parties or state.parties[own].status != "invited":
            raise InputError("this party has no pending invitation to that negotiation")
        _, certs = self.fetch_party(own)
        audience = sorted(set(state.joined_parties()) | {own})
        posted = self._post_public(negotiation_id, PARTY_JOIN, {"certificates": [c.to_obj() for c in certs]},
                                   parties=audience)
        self._carry_party_trust(negotiation_id)
        return posted

    def _carry_party_trust(self, negotiation_id: str) -> None:
        """A head brings the verifications it made before into a negotiation its party just entered (or a
        party just joined), so its delegation inherits them there too."""
        from parley.client.trust import carry_party_trust

        carry_party_trust(self, negotiation_id)

    @act
    def public_statement(self, negotiation_id: str, text: str) -> Posted:
        state = self.sync_state(negotiation_id)
        return self._post_public(negotiation_id, PUBLIC_STATEMENT, {"text": text}, authority="head",
                                 parties=state.joined_parties())

    # ---- sync and verification ----------------------------------------------------------------------
    def state(self, negotiation_id: str) -> NegotiationState:
        """The verified state from the local cache (no network).

        Caught up with the cache when another process on this profile stored events since (the cache is the
        truth): the newer events are folded in; a state ahead of the cache is rebuilt."""
        known = self._states.get(negotiation_id)
        stored = self.cache.last_seq(negotiation_id) + 1
        if known is None or known.size > stored:
            known = NegotiationState(negotiation_id, self.limits)
        if known.size < stored:
            try:
                for _, env, _ in self.cache.iter_envelopes(negotiation_id, after=known.size - 1):
                    known.accept(entry_from_obj(env, self.limits))
            except ParleyError:
                self._states.pop(negotiation_id, None)
                raise
        self._states[negotiation_id] = known
        return known

    def sync_state(self, negotiation_id: str) -> NegotiationState:
        self.sync(negotiation_id)
        return self.state(negotiation_id)

    def relay_verifier(self) -> Verifier:
        """The pinned relay's checkpoint key.  Raises: ConfigError when none is pinned."""
        if not self.profile.relay_vkey:
            raise ConfigError("this profile has not pinned the relay's checkpoint key")
        return Verifier.from_vkey(self.profile.relay_vkey)

    def origin(self, negotiation_id: str) -> str:
        """The origin line of this negotiation's checkpoints at the pinned relay."""
        return checkpoint_origin(self.relay_verifier().name, negotiation_id)

    def sync(self, negotiation_id: str) -> SyncResult:
        """Fetch, verify and store every new event of a negotiation (``parley.client.sync``).

        Raises:
            RollbackError / ForkError: the relay's log does not extend what this profile verified.
            ProofError / SignatureError / ProtocolError / TrustError: a served event or proof is bad.
            NotFoundError: the negotiation does not exist or is not visible to this party.
        """
        from parley.client import offline

        listed = self._listed.get(negotiation_id)
        if listed is not None and self._acts:
            return replace(listed, new_events=0)  # listed already in this act (see one_act)
        with self.one_act():
            try:
                result = self._verified(negotiation_id, logsync.sync)
            except ParleyError as exc:
                if self.offline_ok and offline.unreachable(exc):
                    return offline.offline_sync(self, negotiation_id, exc)  # the verified local copy, "as of"
                raise
            if self.offline_ok:
                offline.mark_verified(self, negotiation_id)
            # Every party is a witness of the log it verified: its cosignature goes with its next post
            # (parley.client.witness), a read never posts.
            self._listed[negotiation_id] = result
            if result.new_events:
                from parley.client.grants import apply_grants

                apply_grants(self, negotiation_id)  # earlier content a head granted to this device
        return result

    def verify(self, negotiation_id: str) -> SyncResult:
        """Re-verify a negotiation from scratch: the local copy, then the relay's whole log against it.

        Raises:
            VerificationError (any subclass): something does not verify; the message says what.
        """
        with self.one_act():
            result = self._verified(negotiation_id, logsync.verify)
            self._listed[negotiation_id] = result
        return result

    def _verified(self, negotiation_id: str, step: Callable[[Client, str], Any]) -> Any:
        try:
            with self.lock:
                return step(self, negotiation_id)
        except ParleyError as exc:
            from parley.client import offline

            # The in-memory state may hold half of a refused batch. One fed part of a batch before the
            # connection dropped no longer matches the store's size either: state() rebuilds it then, so
            # a sync that never reached the relay keeps it (the outbox acts on it).
            if not (self.offline_ok and offline.unreachable(exc)):
                self._states.pop(negotiation_id, None)
            raise

    def open_body(self, envelope: Envelope) -> dict[str, Any] | None:
        """The body of a verified event as this device reads it: the public part, its own ciphertext
        opened, or None when the event is not addressed to it.

        Raises:
            ProtocolError: a ciphertext addressed to this device was withheld or does not open.
        """
        header = envelope.header
        if header.public is not None:
            return {"type": header.public["type"], "content": header.public["content"]}
        me = self.identity.device_key_id
        for index, ref in enumerate(header.ciphertexts):
            if me not in ref.recipients:
                continue
            blob = envelope.ciphertexts[index]
            if blob is None:
                raise ProtocolError("the relay withheld a ciphertext addressed to this device")
            body = parse_body(open_padded(blob, self.identity.encryption), header)
            return {"type": body.type, "content": body.content}
        return None

    def check_trust(self, state: NegotiationState) -> None:
        """Every party's root key in a verified state against this profile's pins (pinned on first use).

        Raises:
            TrustError: a root key differs from the pinned one.
        """
        for party in state.parties.values():
            try:
                # Trust on first use (shown as unverified until checked); follows signed root rotations.
                self.profile.pin(party.record, chain=party.root_chain)
            except TrustError:
                raise TrustError(f"the negotiation names a root key for '{party.record.name}' that differs from "
                                 "the pinned one: a swapped key") from None

    # ---- posting ------------------------------------------------------------------------------------
    def _gossip_checkpoint(self, negotiation_id: str) -> dict[str, Any] | None:
        pinned = self.cache.checkpoint(negotiation_id)
        if pinned is None or pinned[0] == 0:
            return None
        return {"size": pinned[0], "root": base64.b64encode(pinned[1]).decode()}

    def _post_public(self, negotiation_id: str, event_type: str, content: dict[str, Any], *,
                     parties: Sequence[str] | None = None, authority: str = "member") -> Posted:
        with self.one_act():
            return self._post_public_locked(negotiation_id, event_type, content, parties=parties,
                                            authority=authority)

    def _post_public_locked(self, negotiation_id: str, event_type: str, content: dict[str, Any], *,
                            parties: Sequence[str] | None, authority: str) -> Posted:
        state = self.sync_state(negotiation_id)
        header = build_header(nonce=new_nonce(),
            negotiation=negotiation_id, author=self.identity.device_key_id, created=self.clock(),
            audience=Audience(tuple(sorted(parties or state.joined_parties()))), prev=state.head,
            public={"type": event_type, "content": content}, authority=authority,
            checkpoint=self._gossip_checkpoint(negotiation_id))
        return self._send(negotiation_id, Envelope(header, sign_header(self.identity.signing, header), ()))

    def post(self, negotiation_id: str, event_type: str, content: Any, *, parties: Sequence[str] | None = None,
             roles: Sequence[str] | None = None, authority: str = "member",
             copies: Callable[[MemberCertificate], Any] | None = None,
             devices: Collection[str] | None = None) -> Posted:
        """Encrypt and post an event to the current members of ``parties`` (default: every party in).

        ``copies`` makes one ciphertext per recipient, with the content it returns for that
        recipient (leak tracing); otherwise one ciphertext for all. ``devices`` keeps only those
        readers (a history grant to one new device).

        Raises:
            TrustError: an audience party is not pinned, or its pinned key differs.
            InputError: no readers, or a party not in the negotiation.
            BusyError: another process kept this profile busy too long.
        """
        from parley.client import offline

        with self.one_act():
            flushing = getattr(self, "_flushing", False)
            staging = getattr(self, "_staging", None)
            if staging is not None and not flushing:  # a part of a staged act (offline.staged_act)
                return offline.enqueue(self, negotiation_id, event_type, content, parties=parties, roles=roles,
                                       authority=authority, copies=copies, devices=devices, sent_event_id=None,
                                       act=staging)
            queue = self.offline_ok and not flushing
            if not flushing and offline.pending_count(self):
                offline.flush(self)  # earlier acts first: the outbox keeps the order
                if queue and offline.pending_count(self):
                    return offline.enqueue(self, negotiation_id, event_type, content, parties=parties, roles=roles,
                                           authority=authority, copies=copies, devices=devices, sent_event_id=None)
            try:
                return self._post_locked(negotiation_id, event_type, content, parties=parties, roles=roles,
                                         authority=authority, copies=copies, devices=devices)
            except TransportError as exc:
                if not (queue and offline.unreachable(exc)):
                    raise
                sent = getattr(exc, "envelope", None)  # sent, but the answer was lost: posted, perhaps
                return offline.enqueue(self, negotiation_id, event_type, content, parties=parties, roles=roles,
                                       authority=authority, copies=copies, devices=devices,
                                       sent_event_id=None if sent is None else sent.event_id)

    def _post_locked(self, negotiation_id: str, event_type: str, content: Any, *, parties: Sequence[str] | None,
                     roles: Sequence[str] | None, authority: str,
                     copies: Callable[[MemberCertificate], Any] | None,
                     devices: Collection[str] | None = None) -> Posted:
        state = self.sync_state(negotiation_id)
        now = self.clock()
        audience_parties = tuple(sorted(set(parties) if parties else state.joined_parties()))
        for party_id in audience_parties:
            if party_id not in state.parties or state.parties[party_id].status != "joined":
                raise InputError(f"party {party_id} is not in this negotiation")
            pinned = self.profile.trust.get(party_id)
            state_chain = state.parties[party_id].root_chain
            if pinned is None or (state_chain[: len(pinned.chain)] != pinned.chain
                                  and pinned.chain[: len(state_chain)] != state_chain):
                raise TrustError(f"party '{state.parties[party_id].record.name}' is not pinned: refusing to encrypt")
        audience = Audience(audience_parties, None if roles is None else tuple(sorted(set(roles))))
        readers = state.current_members(now, audience.parties, audience.roles)
        if devices is not None:
            readers = [cert for cert in readers if cert.device_key_id in devices]
        if not readers:
            raise InputError("nobody could read this event: the audience has no current members")
        nonce = new_nonce()
        # One tag per reader, padded to every device of the negotiation: a party outside the audience receives
        # only the event's hidden entry, and the tags tell each device whether it was left out or withheld.
        devices = min(len(state.current_members(now)), self.limits.max_recipients_per_event)
        tags = audience_tags(self.identity.encryption.identity, nonce, [c.encryption_key for c in readers], devices)
        header = build_header(nonce=nonce, negotiation=negotiation_id, author=self.identity.device_key_id, created=now,
                              audience=audience, prev=state.head, authority=authority,
                              checkpoint=self._gossip_checkpoint(negotiation_id), tags=tags)
        groups: list[tuple[list[MemberCertificate], Any]]
        if copies is None:
            groups = [(readers, content)]
        else:
            groups = [([cert], copies(cert)) for cert in readers]
        refs, blobs = [], []
        for certs, group_content in groups:
            blob = seal_padded(make_body(event_type, group_content, header), [c.encryption_key for c in certs])
            refs.append(CiphertextRef(hashlib.sha256(blob).hexdigest(), tuple(sorted(c.device_key_id for c in certs))))
            blobs.append(blob)
        header = replace(header, ciphertexts=tuple(refs))
        return self._send(negotiation_id, Envelope(header, sign_header(self.identity.signing, header), tuple(blobs)))

    def _send(self, negotiation_id: str, envelope: Envelope) -> Posted:
        from parley.client.witness import post_event

        try:
            answer = post_event(self, negotiation_id, envelope.to_json())  # with the cosignature this device owes
        except TransportError as exc:
            exc.envelope = envelope  # the outbox must know which event may have reached the relay
            raise
        self._acknowledged(negotiation_id, envelope, answer)
        return Posted(answer["seq"], answer["event_id"], answer["size"])

    def _acknowledged(self, negotiation_id: str, envelope: Envelope, answer: dict[str, Any]) -> None:
        """The acknowledgement must prove the event is in the log the relay signed; the event is then
        appended to the local copy without listing the log again (when other events came first, the next
        sync takes them in with it).

        Raises:
            SignatureError / VerificationError / ProofError / ForkError: a false acknowledgement.
        """
        result = self._verified(negotiation_id,
                                lambda client, nid: logsync.accept_ack(client, nid, envelope, answer))
        if result is None:
            self._listed.pop(negotiation_id, None)  # others posted first: the next sync lists them
            return
        if negotiation_id in self._listed:
            self._listed[negotiation_id] = result

    # ---- live updates -------------------------------------------------------------------------------
    def watch(self, negotiation_id: str, *, deadline: float | None = None) -> Iterator[int]:
        """Follow the relay's event stream (SSE); yields the new log size each time events arrive.

        The stream only says *that* something arrived: callers sync to fetch and verify it.
        Reconnects after a quiet period; stops at ``deadline`` (a ``time.monotonic()`` value).

        Raises:
            TransportError: the relay is unreachable.
        """
        import json as _json
        import time as _time

        from parley.client.transport import error_from_response
        from parley.crypto.httpsig import sign_request

        after = self.cache.last_seq(negotiation_id)
        while deadline is None or _time.monotonic() < deadline:
            request = self.conn.http.build_request("GET", f"/v1/negotiations/{negotiation_id}/stream",
                                                   params={"after": after})
            sign_request(request, key_id=self.identity.device_key_id, private_key=self.identity.signing.private)
            # The relay sends a keep-alive every 15 s; a read timeout below that lets us honour the deadline.
            request.extensions["timeout"] = httpx.Timeout(10.0, read=2.0).as_dict()
            try:
                response = self.conn.http.send(request, stream=True)
            except httpx.HTTPError as exc:
                raise TransportError(f"cannot reach the relay: {exc}") from None
            try:
                if response.status_code >= 400:
                    response.read()
                    raise error_from_response(response)
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        page = _json.loads(line[6:])
                        if page["events"]:
                            after = page["events"][-1]["seq"]
                        yield page["size"]
                    if deadline is not None and _time.monotonic() >= deadline:
                        return
            except httpx.ReadTimeout:
                continue  # quiet: reconnect (a fresh signature, a fresh nonce)
            except httpx.HTTPError as exc:
                raise TransportError(f"the relay stream broke: {exc}") from None
            finally:
                response.close()

    # ---- plain messages -----------------------------------------------------------------------------
    def send_message(self, negotiation_id: str, text: str, *, parties: Sequence[str] | None = None) -> Posted:
        """Raises: InputError for an empty or over-long text."""
        if not text.strip():
            raise InputError("a message needs text")
        if len(text) > self.limits.max_text_chars:
            raise InputError(f"a message holds at most {self.limits.max_text_chars} characters")
        return self.post(negotiation_id, "message", {"text": text}, parties=parties)

    def timeline(self, negotiation_id: str) -> list[dict[str, Any]]:
        """Every event of the local copy, decrypted where this device may read it (a file's chunk without its
        data: ``ClientCache.iter_timeline``)."""
        state = self.state(negotiation_id)
        out = []
        for seq, header, body, received_at in self.cache.iter_timeline(negotiation_id):
            author = state.members.get(header["author"])
            party = state.parties.get(author.party_id) if author else None
            out.append({
                "seq": seq, "created": header["created"], "received_at": received_at,
                "author": author.member if author else header["author"],
                "role": author.role if author else None,
                "party": party.record.name if party else None,
                "audience": [state.parties[p].record.name for p in header["audience"]["parties"] if p in state.parties],
                "type": body["type"] if body else None, "content": body["content"] if body else None,
                "readable": body is not None,
                "granted_by": body.get("granted_by") if body else None,
            })
        return out

    def messages(self, negotiation_id: str) -> list[dict[str, Any]]:
        """The readable messages of the timeline, each with its ``text`` read through the message's declaration
        (``parley.protocol.bodies.Message``); a message whose content does not match it is left out."""
        out = []
        for row in self.timeline(negotiation_id):
            if row["type"] != "message":
                continue
            try:
                body = decode_content("message", row["content"])
            except InputError:
                continue
            out.append({**row, "text": body.text})
        return out


def _new_identity(root: SigningKey, *, member: str, role: str, now: datetime, keep_root: bool = False,
                  party_id: str | None = None) -> Identity:
    signing, encryption = SigningKey.generate(), EncryptionKey.generate()
    cert = MemberCertificate.issue(root, member=member, role=role, signing_key=signing.public_b64,
                                   encryption_key=encryption.recipient, not_before=now - timedelta(minutes=10),
                                   not_after=now + CERTIFICATE_LIFETIME, party_id=party_id,
                                   max_devices=DEFAULT_MAX_DEVICES)
    # Only the administrator's profile (the party's first member) holds the root key.
    return Identity(signing, encryption, cert, root if keep_root else None)


__all__ = ["Client", "Posted", "SyncResult", "act", "format_time", "parse_time", "verify_log"]


def verify_log(client: Client, negotiation_id: str) -> dict[str, Any]:
    """Re-verify a negotiation from scratch (``Client.verify``) and summarise the result.

    Raises:
        VerificationError (any subclass): something does not verify; the message says what.
    """
    result = client.verify(negotiation_id)
    return {"negotiation_id": negotiation_id, "events": result.size, "size": result.size,
            "root": base64.b64encode(result.root).decode(), "checkpoint": result.checkpoint,
            "new_events": result.new_events, "result": "verified"}
