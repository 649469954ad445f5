"""Several devices per person: link a new device by a short code, list a person's devices, remove a lost one.

Linking (as Signal and Element do it, without the party root key):

1. the new device makes its keys and a link code (``request_link``), leaves its public keys at the relay
   under the code's slot, authenticated by the code, and shows the code;
2. the person types the code on a device they already hold (``link_device``): it checks the keys against
   the code, certifies them with its own key as a device of the same member (``MemberCertificate.link``,
   within the number of devices the party root allowed), registers the certificate at the relay, records
   it in every negotiation its party is in (``member.add``), and answers with the profile (party, pinned
   parties and their verification, the relay's key, the checkpoints it verified), encrypted to the new
   device and authenticated by the code;
3. the new device collects the answer (``finish_link``), checks it against the code and its own keys, and
   writes its profile. Its first sync must agree with the checkpoints the existing device verified.

Removing: any device of a person revokes another of the same person (``remove_device``), at the relay and
in every negotiation (``member.remove``); from then on that device's posts are refused everywhere.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from parley.client.profile import Identity, PinnedParty, Profile
from parley.client.transport import RelayConnection
from parley.crypto.canonical import canonical_bytes
from parley.crypto.keys import EncryptionKey, SigningKey
from parley.crypto.keystore import load_keystore, save_keystore
from parley.crypto.linking import check_link_mac, link_mac, link_slot, new_link_code, normalize_link_code
from parley.crypto.seal import open_sealed, seal
from parley.errors import ConfigError, ForbiddenError, ForkError, InputError, NotFoundError, TrustError
from parley.protocol.identity import MemberCertificate, PartyRecord, Revocation, verify_certificate_in_chain
from parley.protocol.state import MEMBER_ADD, MEMBER_REMOVE
from parley.tlog import merkle

PENDING_FILE = "link-pending.age"


@dataclass
class PendingLink:
    """A new device waiting for its person to type the code on a device they hold."""

    home: Path
    relay_url: str
    code: str
    signing: SigningKey
    encryption: EncryptionKey
    label: str

    @property
    def slot(self) -> str:
        return link_slot(self.code)

    def to_secrets(self) -> dict[str, Any]:
        return {"relay_url": self.relay_url, "code": self.code, "signing_seed": self.signing.seed_b64(),
                "age_identity": self.encryption.identity, "label": self.label}


def _request_body(signing_key: str, encryption_key: str) -> dict[str, Any]:
    # Public keys only: the relay holds the request, so the device's label stays on the device.
    return {"signing_key": signing_key, "encryption_key": encryption_key}


def request_link(home: Path, relay_url: str, *, label: str = "new device", passphrase: str | None,
                 transport: httpx.BaseTransport | None = None) -> PendingLink:
    """Start linking this machine as a new device: keys, a code to show, the request left at the relay.

    ``passphrase`` protects the pending keys in ``home`` until ``finish_link`` (None: memory only).

    Raises:
        ConfigError: a profile exists in ``home``.  TransportError: relay unreachable.
    """
    if Profile.exists(home):
        raise ConfigError(f"a profile already exists in {home}: link a new device into a new folder")
    pending = PendingLink(home, relay_url, new_link_code(), SigningKey.generate(), EncryptionKey.generate(), label)
    body = _request_body(pending.signing.public_b64, pending.encryption.recipient)
    body["mac"] = link_mac(pending.code, "request", canonical_bytes(_request_body(body["signing_key"],
                                                                                 body["encryption_key"])))
    conn = RelayConnection(relay_url, None, transport=transport)
    try:
        conn.request("POST", f"/link/{pending.slot}", body={"request": body}, signed=False)
    finally:
        conn.close()
    if passphrase is not None:
        home.mkdir(parents=True, exist_ok=True)
        os.chmod(home, 0o700)
        save_keystore(home / PENDING_FILE, pending.to_secrets(), passphrase)
    return pending


def load_pending(home: Path, passphrase: str) -> PendingLink:
    """Raises: ConfigError (no link pending in ``home``), BadPassphraseError."""
    if not (home / PENDING_FILE).exists():
        raise ConfigError(f"no device link is pending in {home}", hint="start one with 'parley device link --new'")
    secrets = load_keystore(home / PENDING_FILE, passphrase)
    return PendingLink(home, secrets["relay_url"], secrets["code"], SigningKey.from_seed_b64(secrets["signing_seed"]),
                       EncryptionKey(secrets["age_identity"]), secrets.get("label", "new device"))


def link_device(client: Any, code: str) -> MemberCertificate:
    """On a device the person already holds: certify the new device waiting under ``code``.

    Raises:
        InputError: a malformed code.  NotFoundError: no device waits under that code (expired, mistyped).
        VerificationError: the new device's keys do not match the code (swapped on the way).
        TrustError / ForbiddenError: the party root allowed this member no more devices.
    """
    code = normalize_link_code(code)
    slot = link_slot(code)
    with client.lock:
        request = client.conn.get(f"/v1/links/{slot}")["message"]
        if not isinstance(request, dict) or set(request) != {"signing_key", "encryption_key", "mac"}:
            raise InputError("the waiting device sent a malformed link request")
        fields = {k: request[k] for k in ("signing_key", "encryption_key")}
        check_link_mac(code, "request", canonical_bytes(fields), request["mac"])
        own = client.identity.certificate
        if (own.anchor.max_devices or 1) < 2:
            raise ForbiddenError(f"the party root allowed '{own.member}' no linked devices",
                                 hint="the party administrator can issue a new certificate (parley party add-member)")
        now = client.clock()
        cert = MemberCertificate.link(client.identity.signing, own, signing_key=fields["signing_key"],
                                      encryption_key=fields["encryption_key"],
                                      not_before=now - timedelta(minutes=10), not_after=parse_not_after(own))
        party_id = client.profile.party.party_id
        client.conn.post(f"/v1/parties/{party_id}/devices", {"certificate": cert.to_obj()})
        checkpoints = {}
        for negotiation_id in client.cache.negotiations():
            state = client.sync_state(negotiation_id)
            party = state.parties.get(party_id)
            if party is not None and party.status == "joined":
                client._post_public(negotiation_id, MEMBER_ADD, {"certificate": cert.to_obj()})
            pinned = client.cache.checkpoint(negotiation_id)
            if pinned is not None:
                checkpoints[negotiation_id] = {"size": pinned[0], "root": base64.b64encode(pinned[1]).decode()}
        profile = client.profile
        plain = {"certificate": cert.to_obj(), "party": profile.party.to_obj(), "relay_url": profile.relay_url,
                 "relay_vkey": profile.relay_vkey, "checkpoints": checkpoints,
                 "trust": {p.party_id: {"name": p.name, "root_key": p.root_key, "verified": p.verified,
                                        "chain": p.chain} for p in profile.trust.values()}}
        blob = base64.b64encode(seal(json.dumps(plain).encode(), [fields["encryption_key"]])).decode()
        client.conn.post(f"/v1/links/{slot}/answer", {"answer": {"blob": blob,
                                                                 "mac": link_mac(code, "answer", blob.encode())}})
    return cert


def parse_not_after(cert: MemberCertificate) -> datetime:
    from parley.protocol.times import parse_time

    return parse_time(cert.not_after)


def finish_link(pending: PendingLink, *, passphrase: str | None, transport: httpx.BaseTransport | None = None,
                clock: Callable[[], datetime] | None = None) -> Any:
    """On the new device: collect the answer, check it, write the profile, sync. Returns the ``Client``.

    Raises:
        NotFoundError: not answered yet (type the code on your other device first).
        VerificationError: the answer does not match the code, or is not for this device's keys.
        ForkError: the relay shows this device another history than the one the other device verified.
    """
    from parley.client.sdk import Client

    conn = RelayConnection(pending.relay_url, None, transport=transport)
    try:
        message = conn.request("GET", f"/link/{pending.slot}/answer", signed=False)["message"]
    finally:
        conn.close()
    if not isinstance(message, dict) or not isinstance(message.get("blob"), str):
        raise InputError("the other device sent a malformed link answer")
    check_link_mac(pending.code, "answer", message["blob"].encode(), message.get("mac"))
    plain = json.loads(open_sealed(base64.b64decode(message["blob"]), pending.encryption))
    cert = MemberCertificate.from_obj(plain["certificate"])
    if cert.signing_key != pending.signing.public_b64 or cert.encryption_key != pending.encryption.recipient:
        raise TrustError("the link answer certifies other keys than this device's")
    party = PartyRecord.from_obj(plain["party"])
    pins = plain["trust"]
    own = pins.get(party.party_id)
    if own is None or own["chain"][0] != party.root_key:
        raise TrustError("the link answer does not pin the party's own root key")
    verify_certificate_in_chain(cert, party.party_id, own["chain"], [])
    identity = Identity(pending.signing, pending.encryption, cert)
    profile = Profile.create(pending.home, member=cert.member, party=party, relay_url=pending.relay_url,
                             identity=identity, passphrase=passphrase)
    profile.relay_vkey = plain["relay_vkey"]
    for party_id, pin in pins.items():
        profile.trust[party_id] = PinnedParty(party_id, pin["name"], pin["root_key"], bool(pin["verified"]),
                                              list(pin["chain"]))
    profile.save()
    (pending.home / PENDING_FILE).unlink(missing_ok=True)
    kwargs = {} if clock is None else {"clock": clock}
    client = Client(profile, transport=transport, **kwargs)
    for negotiation_id, seen in sorted(plain.get("checkpoints", {}).items()):
        result = client.sync(negotiation_id)
        size, root = seen["size"], base64.b64decode(seen["root"])
        if size > result.size:
            raise ForkError(f"the relay shows this device {negotiation_id} at {result.size} events, the other "
                            f"device verified {size}: it rolled back the log")
        ours = merkle.root_from_nodes(size, client.cache.node_reader(negotiation_id)) if size else merkle.EMPTY_ROOT
        if ours != root:
            raise ForkError(f"the relay shows this device another history of {negotiation_id} than the one your "
                            "other device verified: a forked log")
    return client


def list_devices(client: Any) -> list[dict[str, Any]]:
    """This person's current devices (from the party directory, each certificate verified to the root)."""
    _, certs = client.fetch_party(client.profile.party.party_id)
    person = client.identity.certificate.person_id
    me = client.identity.device_key_id
    return [{"device_key_id": c.device_key_id, "member": c.member, "role": c.role,
             "linked_by": None if c.linked_by is None else c.parent.device_key_id,
             "not_after": c.not_after, "this_device": c.device_key_id == me}
            for c in certs if c.person_id == person]


def remove_device(client: Any, device_key_id: str, reason: str = "lost") -> Revocation:
    """Revoke another device of this person, at the relay and in every negotiation (``member.remove``).

    Raises:
        InputError: this very device.  NotFoundError: not a current device of this person.
        ForbiddenError: another person's device (the party administrator removes members).
    """
    if device_key_id == client.identity.device_key_id:
        raise InputError("a device does not remove itself: remove it from another of your devices")
    with client.lock:
        _, certs = client.fetch_party(client.profile.party.party_id)
        target = next((c for c in certs if c.device_key_id == device_key_id), None)
        if target is None:
            raise NotFoundError(f"no current device {device_key_id} in your party")
        if target.person_id != client.identity.certificate.person_id:
            raise ForbiddenError(f"device {device_key_id} belongs to '{target.member}', not to you",
                                 hint="the party administrator removes members: parley party remove-member")
        revocation = Revocation.issue_by_device(client.identity.signing, client.identity.certificate,
                                                device_key_id, _now(client))
        client.conn.post(f"/v1/parties/{client.profile.party.party_id}/revocations",
                         {"revocation": revocation.to_obj()})
        for negotiation_id in client.cache.negotiations():
            state = client.sync_state(negotiation_id)
            if device_key_id in state.members and device_key_id not in state.revoked:
                client._post_public(negotiation_id, MEMBER_REMOVE, {"revocation": revocation.to_obj()})
    return revocation


def _now(client: Any) -> datetime:
    now = client.clock()
    return now if now.tzinfo else now.replace(tzinfo=UTC)
