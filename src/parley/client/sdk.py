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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from parley.client.cache import ClientCache
from parley.client.profile import Identity, Profile
from parley.client.transport import RelayConnection
from parley.crypto.fingerprint import fingerprint_matches
from parley.crypto.keys import EncryptionKey, SigningKey
from parley.crypto.seal import open_sealed, seal
from parley.errors import (
    ConfigError,
    ForbiddenError,
    ForkError,
    InputError,
    NotFoundError,
    ParleyError,
    ProtocolError,
    TransportError,
    TrustError,
    VerificationError,
)
from parley.protocol.events import (
    Audience,
    CiphertextRef,
    Envelope,
    build_header,
    make_body,
    parse_body,
    sign_header,
)
from parley.protocol.identity import (
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
    MEMBER_REMOVE,
    PARTY_INVITE,
    PARTY_JOIN,
    PARTY_ROTATE_ROOT,
    PUBLIC_STATEMENT,
    NegotiationState,
)
from parley.protocol.times import format_time, parse_time
from parley.settings import DEFAULT_LIMITS, Limits
from parley.tlog import merkle
from parley.tlog.checkpoint import Checkpoint, check_extension, checkpoint_origin, open_checkpoint
from parley.tlog.note import Verifier

CERTIFICATE_LIFETIME = timedelta(days=365)


@dataclass(frozen=True)
class SyncResult:
    negotiation_id: str
    new_events: int
    size: int
    root: bytes
    checkpoint: str


@dataclass(frozen=True)
class Posted:
    seq: int
    event_id: str
    size: int


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
        self.cache = ClientCache(profile.home / "cache.db")
        self._states: dict[str, NegotiationState] = {}

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
        for negotiation_id in self.cache.negotiations():
            state = self.state(negotiation_id)
            if state.parties.get(self.profile.party.party_id) and state.parties[self.profile.party.party_id].status == "joined":
                self._post_public(negotiation_id, "member.add", {"certificate": identity.certificate.to_obj()})
        return profile

    def remove_member(self, device_key_id: str, reason: str = "removed") -> Revocation:
        """Revoke a member device at the relay and in every negotiation of this profile.

        Raises:
            ForbiddenError: not the party administrator.
        """
        root = self._root()
        revocation = Revocation.issue(root, device_key_id, self.clock(), reason, party_id=self.profile.party.party_id)
        self.conn.post(f"/v1/parties/{self.profile.party.party_id}/revocations", {"revocation": revocation.to_obj()})
        for negotiation_id in self.cache.negotiations():
            state = self.sync_state(negotiation_id)
            if device_key_id in state.members and device_key_id not in state.revoked:
                self._post_public(negotiation_id, MEMBER_REMOVE, {"revocation": revocation.to_obj()})
        return revocation

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
        for negotiation_id in self.cache.negotiations():
            state = self.sync_state(negotiation_id)
            party = state.parties.get(party_id)
            if party is not None and party.status == "joined" and party.root_key == old_root.public_b64:
                self._post_public(negotiation_id, PARTY_ROTATE_ROOT, {"rotation": rotation.to_obj()},
                                  authority="head")
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
        """Pin a party's root key; with ``fingerprint`` (compared out of band), mark it verified.

        Raises:
            TrustError: the fingerprint does not match.
        """
        record, chain, _, _ = self.fetch_party_chain(party_id)
        if fingerprint is not None and not fingerprint_matches(chain[-1], fingerprint):
            # Checked before pinning, so a relay's impostor is never remembered at all.
            raise TrustError(f"the fingerprint of '{record.name}' does NOT match: do not trust this key")
        self.profile.pin(record, verified=fingerprint is not None, chain=chain)

    # ---- negotiations -------------------------------------------------------------------------------
    def create_negotiation(self) -> str:
        """Open a new negotiation convened by this party. Returns its id."""
        negotiation_id = "n-" + secrets.token_hex(8)
        _, _, rotations, certs = self.fetch_party_chain(self.profile.party.party_id)
        extra = {"rotations": rotations} if rotations else {}
        header = build_header(
            negotiation=negotiation_id, author=self.identity.device_key_id, created=self.clock(),
            audience=Audience((self.profile.party.party_id,)), prev=None,
            public={"type": GENESIS, "content": {"party": self.profile.party.to_obj(),
                                                 "certificates": [c.to_obj() for c in certs], **extra}})
        envelope = Envelope(header, sign_header(self.identity.signing, header), ())
        answer = self.conn.post("/v1/negotiations", raw=envelope.to_json())
        self._check_acknowledgement(negotiation_id, envelope, answer)
        self.sync(negotiation_id)
        return negotiation_id

    def negotiations(self) -> list[dict[str, Any]]:
        return self.conn.get("/v1/negotiations")["negotiations"]

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
        return self._post_public(negotiation_id, PARTY_INVITE, content, parties=audience)

    def join(self, negotiation_id: str) -> Posted:
        """Join a negotiation this profile's party was invited to."""
        state = self.sync_state(negotiation_id)
        own = self.profile.party.party_id
        if own not in state.parties or state.parties[own].status != "invited":
            raise InputError("this party has no pending invitation to that negotiation")
        _, certs = self.fetch_party(own)
        audience = sorted(set(state.joined_parties()) | {own})
        return self._post_public(negotiation_id, PARTY_JOIN, {"certificates": [c.to_obj() for c in certs]},
                                 parties=audience)

    def public_statement(self, negotiation_id: str, text: str) -> Posted:
        state = self.sync_state(negotiation_id)
        return self._post_public(negotiation_id, PUBLIC_STATEMENT, {"text": text}, authority="head",
                                 parties=state.joined_parties())

    # ---- sync and verification ----------------------------------------------------------------------
    def state(self, negotiation_id: str) -> NegotiationState:
        """The verified state from the local cache (no network)."""
        if negotiation_id not in self._states:
            state = NegotiationState(negotiation_id, self.limits)
            for _, env, _, _ in self.cache.events(negotiation_id):
                state.accept(Envelope.from_obj(env, self.limits))
            self._states[negotiation_id] = state
        return self._states[negotiation_id]

    def sync_state(self, negotiation_id: str) -> NegotiationState:
        self.sync(negotiation_id)
        return self.state(negotiation_id)

    def _relay_verifier(self) -> Verifier:
        if not self.profile.relay_vkey:
            raise ConfigError("this profile has not pinned the relay's checkpoint key")
        return Verifier.from_vkey(self.profile.relay_vkey)

    def _origin(self, negotiation_id: str) -> str:
        return checkpoint_origin(self._relay_verifier().name, negotiation_id)

    def sync(self, negotiation_id: str) -> SyncResult:
        """Fetch, verify and store every new event of a negotiation.

        Raises:
            RollbackError / ForkError: the relay's log does not extend what this profile verified.
            ProofError / SignatureError / ProtocolError / TrustError: a served event or proof is bad.
            NotFoundError: the negotiation does not exist or is not visible to this party.
        """
        try:
            return self._sync(negotiation_id)
        except ParleyError:
            self._states.pop(negotiation_id, None)  # in-memory state may hold half of a refused batch
            raise

    def _sync(self, negotiation_id: str) -> SyncResult:
        verifier = self._relay_verifier()
        origin = self._origin(negotiation_id)
        state = self.state(negotiation_id)
        pinned = self.cache.checkpoint(negotiation_id)
        old = None if pinned is None else Checkpoint(origin, pinned[0], pinned[1])
        after = self.cache.last_seq(negotiation_id)
        if after + 1 != (0 if old is None else old.size):
            raise VerificationError("local cache is inconsistent with its checkpoint; re-create the profile cache")
        page = self.conn.get(f"/v1/negotiations/{negotiation_id}/events", after=after, limit=self.limits.max_page_events)
        note = page["checkpoint"]
        new = open_checkpoint(note, [verifier], expected_origin=origin)
        if new.size != page["size"]:
            raise VerificationError("the relay's listing and its signed checkpoint disagree on the log size")
        proof: list[bytes] = []
        if old is not None and 0 < old.size < new.size:
            answer = self.conn.get(f"/v1/negotiations/{negotiation_id}/proof/consistency", first=old.size,
                                   second=new.size)
            proof = [_b64d(p) for p in answer["proof"]]
        check_extension(old, new, proof)

        rows: list[dict[str, Any]] = []
        expected_seq = after + 1
        while expected_seq < new.size:
            events = [e for e in page["events"] if e["seq"] < new.size]
            if not events:
                raise VerificationError(
                    f"the relay's checkpoint covers {new.size} events but it served only {expected_seq}: "
                    "events were dropped")
            for item in events:
                if item["seq"] != expected_seq:
                    raise VerificationError(
                        f"the relay skipped event {expected_seq} (served {item['seq']}): a dropped event")
                rows.append(item)
                expected_seq += 1
            if expected_seq < new.size:
                page = self.conn.get(f"/v1/negotiations/{negotiation_id}/events", after=expected_seq - 1,
                                     limit=self.limits.max_page_events)

        reader = self.cache.node_reader(negotiation_id)
        stored, leaf_hashes, gossip = [], [], []
        for item in rows:
            envelope = Envelope.from_obj(item["event"], self.limits)
            state.accept(envelope)
            body = self._open_body(envelope)
            leaf_hashes.append(merkle.leaf_hash(envelope.leaf_bytes()))
            if envelope.header.checkpoint is not None and envelope.header.author != self.identity.device_key_id:
                gossip.append((envelope, envelope.header.checkpoint))
            stored.append((item["seq"], envelope.event_id, envelope.to_obj(), body, item.get("received_at", "")))
        new_nodes = merkle.append_many(0 if old is None else old.size, leaf_hashes, reader)
        reader.overlay.update({(lv, ix): h for lv, ix, h in new_nodes})
        if new.size and merkle.root_from_nodes(new.size, reader) != new.root:
            raise ForkError("the events the relay served do not hash to its signed checkpoint: "
                            "an event was rewritten, reordered or replaced")
        self._check_trust(state)
        self._check_gossip(negotiation_id, gossip, reader, new.size, state)
        self.cache.store_sync(negotiation_id, stored, new_nodes, (new.size, new.root, note))
        return SyncResult(negotiation_id, len(stored), new.size, new.root, note)

    def _open_body(self, envelope: Envelope) -> dict[str, Any] | None:
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
            body = parse_body(open_sealed(blob, self.identity.encryption), header)
            return {"type": body.type, "content": body.content}
        return None

    def _check_trust(self, state: NegotiationState) -> None:
        for party in state.parties.values():
            try:
                # Trust on first use (shown as unverified until checked); follows signed root rotations.
                self.profile.pin(party.record, chain=party.root_chain)
            except TrustError:
                raise TrustError(f"the negotiation names a root key for '{party.record.name}' that differs from "
                                 "the pinned one: a swapped key") from None

    def _check_gossip(self, negotiation_id: str, gossip: list, reader: Any, size: int,
                      state: NegotiationState) -> None:
        """Other parties' events carry the checkpoint they had verified: it must be a prefix of ours."""
        for envelope, seen in gossip:
            self.cache.add_gossip(negotiation_id, seen["size"], _b64d(seen["root"]), envelope.event_id)
        for seen_size, seen_root, event_id in self.cache.pending_gossip(negotiation_id, size):
            ours = merkle.root_from_nodes(seen_size, reader) if seen_size else merkle.EMPTY_ROOT
            if ours != seen_root:
                author = next((state.members.get(env.header.author) for env, _ in gossip if env.event_id == event_id),
                              None)
                who = f"{author.member}" if author else "another member"
                raise ForkError(f"{who} verified a different history at size {seen_size}: the relay forked the log "
                                "between parties")
        self.cache.drop_gossip(negotiation_id, size)

    def _check_acknowledgement(self, negotiation_id: str, envelope: Envelope, answer: dict[str, Any]) -> None:
        """The relay's acknowledgement must prove our event is in the log it signed."""
        checkpoint = open_checkpoint(answer["checkpoint"], [self._relay_verifier()],
                                     expected_origin=self._origin(negotiation_id))
        if answer["event_id"] != envelope.event_id or checkpoint.size != answer["size"]:
            raise VerificationError("the relay acknowledged another event than the one posted")
        merkle.verify_inclusion(merkle.leaf_hash(envelope.leaf_bytes()), answer["seq"], checkpoint.size,
                                [_b64d(p) for p in answer["inclusion_proof"]], checkpoint.root)

    # ---- posting ------------------------------------------------------------------------------------
    def _gossip_checkpoint(self, negotiation_id: str) -> dict[str, Any] | None:
        pinned = self.cache.checkpoint(negotiation_id)
        if pinned is None or pinned[0] == 0:
            return None
        return {"size": pinned[0], "root": base64.b64encode(pinned[1]).decode()}

    def _post_public(self, negotiation_id: str, event_type: str, content: dict[str, Any], *,
                     parties: Sequence[str] | None = None, authority: str = "member") -> Posted:
        state = self.sync_state(negotiation_id)
        header = build_header(
            negotiation=negotiation_id, author=self.identity.device_key_id, created=self.clock(),
            audience=Audience(tuple(sorted(parties or state.joined_parties()))), prev=state.head,
            public={"type": event_type, "content": content}, authority=authority,
            checkpoint=self._gossip_checkpoint(negotiation_id))
        return self._send(negotiation_id, Envelope(header, sign_header(self.identity.signing, header), ()))

    def post(self, negotiation_id: str, event_type: str, content: Any, *, parties: Sequence[str] | None = None,
             roles: Sequence[str] | None = None, authority: str = "member",
             copies: Callable[[MemberCertificate], Any] | None = None) -> Posted:
        """Encrypt and post an event to the current members of ``parties`` (default: every party in).

        ``copies`` makes one ciphertext per recipient, with the content it returns for that
        recipient (leak tracing); otherwise one ciphertext for all.

        Raises:
            TrustError: an audience party is not pinned, or its pinned key differs.
            InputError: no readers, or a party not in the negotiation.
        """
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
        if not readers:
            raise InputError("nobody could read this event: the audience has no current members")
        header = build_header(negotiation=negotiation_id, author=self.identity.device_key_id, created=now,
                              audience=audience, prev=state.head, authority=authority,
                              checkpoint=self._gossip_checkpoint(negotiation_id))
        groups: list[tuple[list[MemberCertificate], Any]]
        if copies is None:
            groups = [(readers, content)]
        else:
            groups = [([cert], copies(cert)) for cert in readers]
        refs, blobs = [], []
        for certs, group_content in groups:
            blob = seal(make_body(event_type, group_content, header), [c.encryption_key for c in certs])
            refs.append(CiphertextRef(hashlib.sha256(blob).hexdigest(), tuple(sorted(c.device_key_id for c in certs))))
            blobs.append(blob)
        header = replace(header, ciphertexts=tuple(refs))
        return self._send(negotiation_id, Envelope(header, sign_header(self.identity.signing, header), tuple(blobs)))

    def _send(self, negotiation_id: str, envelope: Envelope) -> Posted:
        answer = self.conn.post(f"/v1/negotiations/{negotiation_id}/events", raw=envelope.to_json())
        self._check_acknowledgement(negotiation_id, envelope, answer)
        self.sync(negotiation_id)
        return Posted(answer["seq"], answer["event_id"], answer["size"])

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
        """Every event of the local copy, decrypted where this device may read it."""
        state = self.state(negotiation_id)
        out = []
        for seq, env, body, received_at in self.cache.events(negotiation_id):
            header = env["header"]
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
            })
        return out

    def messages(self, negotiation_id: str) -> list[dict[str, Any]]:
        return [e for e in self.timeline(negotiation_id) if e["type"] == "message"]


def _new_identity(root: SigningKey, *, member: str, role: str, now: datetime, keep_root: bool = False,
                  party_id: str | None = None) -> Identity:
    signing, encryption = SigningKey.generate(), EncryptionKey.generate()
    cert = MemberCertificate.issue(root, member=member, role=role, signing_key=signing.public_b64,
                                   encryption_key=encryption.recipient, not_before=now - timedelta(minutes=10),
                                   not_after=now + CERTIFICATE_LIFETIME, party_id=party_id)
    # Only the administrator's profile (the party's first member) holds the root key.
    return Identity(signing, encryption, cert, root if keep_root else None)


__all__ = ["Client", "Posted", "SyncResult", "format_time", "parse_time"]


def verify_log(client: Client, negotiation_id: str) -> dict[str, Any]:
    """Re-verify a negotiation from scratch: the local copy, then the relay's current log.

    Replays every cached event through the protocol core, recomputes the Merkle
    root from the cached leaves and checks it against the stored signed
    checkpoint, then syncs (consistency proof from that checkpoint).

    Raises:
        VerificationError (any subclass): something does not verify; the message says what.
    """
    cached = client.cache.events(negotiation_id)
    state = NegotiationState(negotiation_id, client.limits)
    store = merkle.MemoryNodeStore()
    size = 0
    for seq, env, _, _ in cached:
        if seq != size:
            raise VerificationError(f"local copy has a gap at event {size}")
        envelope = Envelope.from_obj(env, client.limits)
        state.accept(envelope)
        store.put(merkle.append_nodes(size, merkle.leaf_hash(envelope.leaf_bytes()), store))
        size += 1
    pinned = client.cache.checkpoint(negotiation_id)
    if pinned is not None:
        checkpoint = open_checkpoint(pinned[2], [client._relay_verifier()], expected_origin=client._origin(negotiation_id))
        root = merkle.root_from_nodes(size, store) if size else merkle.EMPTY_ROOT
        if checkpoint.size != size or checkpoint.root != root:
            raise ForkError("the local copy does not hash to the checkpoint it was verified under")
    client._states.pop(negotiation_id, None)
    result = client.sync(negotiation_id)
    # The relay must still serve exactly the events verified before: fetch the whole log again.
    cached_leaves = {seq: Envelope.from_obj(env, client.limits).leaf_bytes()
                     for seq, env, _, _ in client.cache.events(negotiation_id)}
    after = -1
    while after + 1 < result.size:
        page = client.conn.get(f"/v1/negotiations/{negotiation_id}/events", after=after,
                               limit=client.limits.max_page_events)
        served = [e for e in page["events"] if e["seq"] < result.size]
        if not served:
            raise VerificationError(f"the relay no longer serves event {after + 1}: it dropped history")
        for item in served:
            if item["seq"] != after + 1:
                raise VerificationError(f"the relay no longer serves event {after + 1}: it dropped history")
            envelope = Envelope.from_obj(item["event"], client.limits)
            if envelope.leaf_bytes() != cached_leaves.get(item["seq"]):
                raise ForkError(f"the relay now serves a different event {item['seq']} than the one verified "
                                "before: it rewrote history")
            after = item["seq"]
    return {"negotiation_id": negotiation_id, "events": result.size, "size": result.size,
            "root": base64.b64encode(result.root).decode(), "checkpoint": result.checkpoint,
            "new_events": result.new_events, "result": "verified"}
