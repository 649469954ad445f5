"""A member's profile folder.

    <home>/profile.json   public facts: member, role, party, relay URL, relay checkpoint key
    <home>/keystore.age   age passphrase file: device signing key, age identity, certificate,
                          and the party root key on the party administrator's profile
    <home>/trust.json     pinned party root keys, each verified out of band or not (yet)
    <home>/cache.db       the verified local copy of every negotiation
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from parley.crypto.fingerprint import fingerprint_digits, fingerprint_matches
from parley.crypto.keys import EncryptionKey, SigningKey
from parley.crypto.keystore import load_keystore, save_keystore
from parley.errors import ConfigError, InputError, TrustError
from parley.protocol.identity import MemberCertificate, PartyRecord

DEFAULT_HOME = Path("~/.parley")


@dataclass
class Identity:
    """The unlocked secrets of one member device."""

    signing: SigningKey
    encryption: EncryptionKey
    certificate: MemberCertificate
    root: SigningKey | None = None

    @property
    def device_key_id(self) -> str:
        return self.signing.key_id

    def to_secrets(self) -> dict[str, Any]:
        return {"signing_seed": self.signing.seed_b64(), "age_identity": self.encryption.identity,
                "certificate": self.certificate.to_obj(), "root_seed": None if self.root is None else self.root.seed_b64()}

    @classmethod
    def from_secrets(cls, secrets: dict[str, Any]) -> Identity:
        root = secrets.get("root_seed")
        return cls(SigningKey.from_seed_b64(secrets["signing_seed"]), EncryptionKey(secrets["age_identity"]),
                   MemberCertificate.from_obj(secrets["certificate"]),
                   None if root is None else SigningKey.from_seed_b64(root))


@dataclass
class PinnedParty:
    party_id: str
    name: str
    root_key: str
    verified: bool
    #: the party's root keys, first to current (``root_key`` is the last); longer after rotations
    chain: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.chain:
            self.chain = [self.root_key]

    @property
    def fingerprint(self) -> str:
        return fingerprint_digits(self.root_key)


@dataclass
class Profile:
    home: Path
    member: str
    role: str
    party: PartyRecord
    relay_url: str
    relay_vkey: str | None
    identity: Identity
    trust: dict[str, PinnedParty] = field(default_factory=dict)

    # ---- files -------------------------------------------------------------------------------------
    @staticmethod
    def exists(home: Path) -> bool:
        return (home / "profile.json").exists()

    @classmethod
    def create(cls, home: Path, *, member: str, party: PartyRecord, relay_url: str, identity: Identity,
               passphrase: str | None) -> Profile:
        """Write a new profile; the member's own party is pinned as verified.

        ``passphrase=None`` writes no keystore: the identity lives only in memory
        (throwaway profiles in tests and benchmarks; the keystore's scrypt costs seconds).

        Raises:
            ConfigError: a profile exists there already.
        """
        if cls.exists(home):
            raise ConfigError(f"a profile already exists in {home}", hint="use another --home")
        home.mkdir(parents=True, exist_ok=True)
        os.chmod(home, 0o700)
        profile = cls(home, member, identity.certificate.role, party, relay_url, None, identity)
        profile.trust[party.party_id] = PinnedParty(party.party_id, party.name, party.root_key, True)
        if passphrase is not None:
            save_keystore(home / "keystore.age", identity.to_secrets(), passphrase)
        profile.save()
        return profile

    @classmethod
    def load(cls, home: Path, passphrase: str) -> Profile:
        """Open a profile.

        Raises:
            ConfigError: no profile there, or damaged.
            BadPassphraseError: wrong passphrase.
        """
        if not cls.exists(home):
            raise ConfigError(f"no parley profile in {home}", hint="create one with 'parley init' or pass --home")
        try:
            public = json.loads((home / "profile.json").read_text())
            trust = json.loads((home / "trust.json").read_text()) if (home / "trust.json").exists() else {}
        except (OSError, ValueError) as exc:
            raise ConfigError(f"the profile in {home} is damaged: {exc}") from None
        identity = Identity.from_secrets(load_keystore(home / "keystore.age", passphrase))
        profile = cls(home, public["member"], public["role"], PartyRecord.from_obj(public["party"]),
                      public["relay_url"], public.get("relay_vkey"), identity)
        for party_id, pin in trust.get("parties", {}).items():
            profile.trust[party_id] = PinnedParty(party_id, pin["name"], pin["root_key"], pin["verified"],
                                                  list(pin.get("chain") or [pin["root_key"]]))
        return profile

    def save(self) -> None:
        public = {"version": 1, "member": self.member, "role": self.role, "party": self.party.to_obj(),
                  "relay_url": self.relay_url, "relay_vkey": self.relay_vkey,
                  "device_key_id": self.identity.device_key_id}
        trust = {"parties": {p.party_id: {"name": p.name, "root_key": p.root_key, "verified": p.verified,
                                          "chain": p.chain}
                             for p in self.trust.values()}}
        _write_json(self.home / "profile.json", public)
        _write_json(self.home / "trust.json", trust)

    # ---- trust -------------------------------------------------------------------------------------
    def pin(self, record: PartyRecord, *, verified: bool = False, chain: list[str] | None = None) -> PinnedParty:
        """Pin a party's root key (trust on first use unless ``verified``).

        ``chain`` is the party's verified root chain (first root to current) when it rotated its root:
        a pin follows a longer chain that extends it (each rotation is signed by the previous root, so
        a verified pin stays verified) and ignores a shorter one that it extends.

        Raises:
            TrustError: the chains diverge: a different root key than the one pinned (a swapped key).
        """
        chain = list(chain or [record.root_key])
        if chain[0] != record.root_key:
            raise TrustError(f"the root chain of '{record.name}' does not start at its party record")
        current = self.trust.get(record.party_id)
        if current is not None:
            if chain[: len(current.chain)] == current.chain:
                pass  # the same, or extended by rotations the pinned root signed
            elif current.chain[: len(chain)] == chain:
                return current  # an older view of the same chain
            else:
                raise TrustError(f"the root key of '{record.name}' differs from the one pinned: a swapped key")
        pinned = PinnedParty(record.party_id, record.name, chain[-1],
                             verified or (current.verified if current else False), chain)
        if current != pinned:
            self.trust[record.party_id] = pinned
            self.save()
        return pinned

    def verify_party(self, party_id: str, typed_fingerprint: str) -> PinnedParty:
        """Mark a pinned party verified after comparing fingerprints out of band.

        Raises:
            InputError: unknown party or malformed fingerprint.
            TrustError: the fingerprint does not match (do not trust this key).
        """
        pinned = self.trust.get(party_id)
        if pinned is None:
            raise InputError(f"party {party_id} is not known yet", hint="fetch it first: parley party show")
        if not fingerprint_matches(pinned.root_key, typed_fingerprint):
            raise TrustError(f"the fingerprint of '{pinned.name}' does NOT match: do not trust this key")
        pinned.verified = True
        self.save()
        return pinned


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
