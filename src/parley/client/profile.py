"""A member's profile folder.

    <home>/profile.json   public facts: member, role, party, relay URL, relay checkpoint key
    <home>/keystore.age   age passphrase file: device signing key, age identity, certificate,
                          and the party root key on the party administrator's profile
    <home>/trust.json     pinned party root keys, each verified out of band or not (yet)
    <home>/cache.db       the verified local copy of every negotiation (SQLCipher, key from the age identity)
    <home>/profile.lock   held by the process acting on the profile (``ProfileLock``)
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from parley.crypto.fingerprint import fingerprint_digits, fingerprint_matches
from parley.crypto.keys import EncryptionKey, SigningKey
from parley.crypto.keystore import load_keystore, save_keystore
from parley.errors import BusyError, ConfigError, InputError, ParleyError, TrustError
from parley.protocol.identity import MemberCertificate, PartyRecord

LOCK_FILE = "profile.lock"


class ProfileLock:
    """One writer per profile at a time, across processes (the CLI, ``parley ui``, a second CLI) and threads.

    An *act* (sync, or check-then-post) runs under it, so two processes never store the same events
    twice, never act on a stale view (two receipts for one memorandum) and never interleave their
    parts. Re-entrant: an act may call others. The lock is an OS file lock (``filelock``) on
    ``<home>/profile.lock``, released by the OS if the process dies.
    """

    def __init__(self, home: Path, timeout: float) -> None:
        from filelock import FileLock

        self.home = home
        self.timeout = timeout
        # thread_local=False: one owner per process; the RLock below keeps other threads of it out.
        self._file = FileLock(str(home / LOCK_FILE), timeout=timeout, thread_local=False, mode=0o600)
        self._threads = threading.RLock()

    def __enter__(self) -> ProfileLock:
        """Raises: BusyError after ``timeout`` seconds of another process holding the profile."""
        from filelock import Timeout

        self._threads.acquire()
        try:
            self._file.acquire()
        except Timeout:
            self._threads.release()
            raise BusyError(f"the profile in {self.home} is busy: another parley process (the web UI or another "
                            f"command) has been using it for over {self.timeout:g} s",
                            hint="try again in a moment, or close the other process") from None
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.release()
        self._threads.release()


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
        return cls.load_unlocked(home, load_keystore(home / "keystore.age", passphrase))

    @classmethod
    def load_unlocked(cls, home: Path, secrets: dict[str, Any]) -> Profile:
        """Open a profile with its key set already decrypted (``load_keystore`` or the key agent).

        Raises:
            ConfigError: no profile there, damaged, or ``secrets`` are another device's keys.
        """
        if not cls.exists(home):
            raise ConfigError(f"no parley profile in {home}", hint="create one with 'parley init' or pass --home")
        try:
            public = json.loads((home / "profile.json").read_text())
            trust = json.loads((home / "trust.json").read_text()) if (home / "trust.json").exists() else {}
        except (OSError, ValueError) as exc:
            raise ConfigError(f"the profile in {home} is damaged: {exc}") from None
        try:
            identity = Identity.from_secrets(secrets)
        except (KeyError, TypeError, ValueError, ParleyError):
            raise ConfigError(f"the unlocked keys of {home} are damaged") from None
        if public.get("device_key_id") not in (None, identity.device_key_id):
            raise ConfigError(f"the unlocked keys are not those of the profile in {home}")
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


    def unverify_party(self, party_id: str) -> PinnedParty:
        """Withdraw the verification of a pinned party (it stays pinned, shown as unverified).

        Raises:
            InputError: unknown party.
        """
        pinned = self.trust.get(party_id)
        if pinned is None:
            raise InputError(f"party {party_id} is not known yet", hint="fetch it first: parley party show")
        pinned.verified = False
        self.save()
        return pinned


def read_public(home: Path) -> tuple[dict[str, Any], dict[str, PinnedParty]]:
    """The public facts of a profile (``profile.json``) and its pinned parties, with no passphrase.

    Raises:
        ConfigError: no profile there, or damaged.
    """
    if not Profile.exists(home):
        raise ConfigError(f"no parley profile in {home}", hint="create one with 'parley init' or pass --home")
    try:
        public = json.loads((home / "profile.json").read_text())
        trust = json.loads((home / "trust.json").read_text()) if (home / "trust.json").exists() else {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"the profile in {home} is damaged: {exc}") from None
    pins = {party_id: PinnedParty(party_id, pin["name"], pin["root_key"], pin["verified"],
                                  list(pin.get("chain") or [pin["root_key"]]))
            for party_id, pin in trust.get("parties", {}).items()}
    return public, pins


def _write_json(path: Path, data: Any) -> None:
    """Write atomically, mode 0600 (what a member pinned and which relay it uses are its own business)."""
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    os.chmod(tmp, 0o600)  # an earlier .tmp left with another mode
    os.replace(tmp, path)
