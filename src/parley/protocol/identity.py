"""Party records, member certificates and revocations.

A party is its root key: the party id is the key id of the root key that
created it. The root signs a *party record* (name and root key), a *member
certificate* for each device (role, signing key, encryption key, validity
window) and a *revocation* when a device leaves. Nothing a relay says can
create one of these: each verifies against a root key that clients pin after
comparing fingerprints out of band.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from parley.crypto.canonical import sign_canonical, verify_canonical
from parley.crypto.keys import SigningKey, check_recipient, key_id, load_public_key
from parley.errors import InputError, SignatureError, TrustError
from parley.protocol.times import format_time, parse_time

ROLES = ("head", "delegate", "expert", "observer")
PARTY_RECORD_TYPE = "parley.party.v1"
CERTIFICATE_TYPE = "parley.member-certificate.v1"
REVOCATION_TYPE = "parley.revocation.v1"
ROTATION_TYPE = "parley.root-rotation.v1"


def _require_str(obj: dict[str, Any], field: str, *, max_len: int = 200) -> str:
    value = obj.get(field)
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise InputError(f"field '{field}' must be a non-empty string of at most {max_len} characters")
    if any(ord(ch) < 32 for ch in value):
        raise InputError(f"field '{field}' must not contain control characters")
    return value


def _require_keys(obj: Any, expected: set[str], what: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise InputError(f"{what} must be a JSON object")
    if set(obj) != expected:
        missing, extra = expected - set(obj), set(obj) - expected
        raise InputError(f"{what} has missing fields {sorted(missing)} or unknown fields {sorted(extra)}")
    return obj


@dataclass(frozen=True)
class PartyRecord:
    """A party's name and root key, self-signed by the root."""

    party_id: str
    name: str
    root_key: str
    signature: str

    def signed_part(self) -> dict[str, Any]:
        return {"type": PARTY_RECORD_TYPE, "party_id": self.party_id, "name": self.name, "root_key": self.root_key}

    def to_obj(self) -> dict[str, Any]:
        return {**self.signed_part(), "signature": self.signature}

    @classmethod
    def create(cls, root: SigningKey, name: str) -> PartyRecord:
        """Raises: InputError for a bad name."""
        _require_str({"name": name}, "name")
        unsigned = cls(party_id=root.key_id, name=name, root_key=root.public_b64, signature="")
        return cls(**{**asdict(unsigned), "signature": sign_canonical(root, unsigned.signed_part())})

    @classmethod
    def from_obj(cls, obj: Any) -> PartyRecord:
        """Parse and verify the self-signature.

        Raises:
            InputError: malformed.
            TrustError: the party id is not the root key's id, or the signature fails.
        """
        obj = _require_keys(obj, {"type", "party_id", "name", "root_key", "signature"}, "party record")
        if obj["type"] != PARTY_RECORD_TYPE:
            raise InputError("not a party record")
        record = cls(
            party_id=_require_str(obj, "party_id", max_len=64),
            name=_require_str(obj, "name"),
            root_key=_require_str(obj, "root_key", max_len=64),
            signature=_require_str(obj, "signature", max_len=128),
        )
        if key_id(record.root_key) != record.party_id:
            raise TrustError(f"party record for '{record.name}': party id does not match its root key")
        try:
            verify_canonical(record.root_key, record.signed_part(), record.signature)
        except SignatureError:
            raise TrustError(f"party record for '{record.name}' is not signed by its root key") from None
        return record


@dataclass(frozen=True)
class MemberCertificate:
    """Binds a member's device keys and role to a party, signed by the party root."""

    party_id: str
    member: str
    role: str
    signing_key: str
    encryption_key: str
    not_before: str
    not_after: str
    signature: str

    @property
    def device_key_id(self) -> str:
        return key_id(self.signing_key)

    def signed_part(self) -> dict[str, Any]:
        return {
            "type": CERTIFICATE_TYPE,
            "party_id": self.party_id,
            "member": self.member,
            "role": self.role,
            "signing_key": self.signing_key,
            "encryption_key": self.encryption_key,
            "not_before": self.not_before,
            "not_after": self.not_after,
        }

    def to_obj(self) -> dict[str, Any]:
        return {**self.signed_part(), "signature": self.signature}

    @classmethod
    def issue(
        cls,
        root: SigningKey,
        *,
        member: str,
        role: str,
        signing_key: str,
        encryption_key: str,
        not_before: datetime,
        not_after: datetime,
        party_id: str | None = None,
    ) -> MemberCertificate:
        """Sign a certificate with the party root (``party_id``: the party's id when the root was rotated).

        Raises:
            InputError: unknown role, bad keys, or an empty validity window.
        """
        if role not in ROLES:
            raise InputError(f"role must be one of {', '.join(ROLES)}")
        if not_after <= not_before:
            raise InputError("a certificate must end after it starts")
        load_public_key(signing_key)
        check_recipient(encryption_key)
        _require_str({"member": member}, "member")
        unsigned = cls(
            party_id=party_id or root.key_id,
            member=member,
            role=role,
            signing_key=signing_key,
            encryption_key=encryption_key,
            not_before=format_time(not_before),
            not_after=format_time(not_after),
            signature="",
        )
        return cls(**{**asdict(unsigned), "signature": sign_canonical(root, unsigned.signed_part())})

    @classmethod
    def from_obj(cls, obj: Any) -> MemberCertificate:
        """Parse (without checking the signature: see ``verify_certificate``).

        Raises:
            InputError: malformed.
        """
        obj = _require_keys(
            obj,
            {"type", "party_id", "member", "role", "signing_key", "encryption_key", "not_before", "not_after",
             "signature"},
            "member certificate",
        )
        if obj["type"] != CERTIFICATE_TYPE:
            raise InputError("not a member certificate")
        cert = cls(
            party_id=_require_str(obj, "party_id", max_len=64),
            member=_require_str(obj, "member"),
            role=_require_str(obj, "role", max_len=16),
            signing_key=_require_str(obj, "signing_key", max_len=64),
            encryption_key=_require_str(obj, "encryption_key", max_len=128),
            not_before=_require_str(obj, "not_before", max_len=32),
            not_after=_require_str(obj, "not_after", max_len=32),
            signature=_require_str(obj, "signature", max_len=128),
        )
        if cert.role not in ROLES:
            raise InputError(f"role must be one of {', '.join(ROLES)}")
        load_public_key(cert.signing_key)
        check_recipient(cert.encryption_key)
        if parse_time(cert.not_after) <= parse_time(cert.not_before):
            raise InputError("certificate validity window is empty")
        return cert


def verify_certificate(cert: MemberCertificate, root_key: str, *, at: datetime | None = None,
                       party_id: str | None = None) -> None:
    """Check that ``cert`` is signed by ``root_key`` (and valid at ``at`` when given).

    ``party_id`` names the party when ``root_key`` is a rotated root (whose key id is no
    longer the party id); by default the root key must be the one the party id derives from.

    Raises:
        TrustError: wrong party, bad signature, or outside the validity window.
    """
    if (party_id if party_id is not None else key_id(root_key)) != cert.party_id:
        raise TrustError(f"certificate of '{cert.member}' names a party whose root key is not the pinned one")
    try:
        verify_canonical(root_key, cert.signed_part(), cert.signature)
    except SignatureError:
        raise TrustError(
            f"certificate of '{cert.member}' is not signed by the party root: a key the party did not issue"
        ) from None
    if at is not None and not (parse_time(cert.not_before) <= at <= parse_time(cert.not_after)):
        raise TrustError(f"certificate of '{cert.member}' is not valid at {format_time(at)}")


@dataclass(frozen=True)
class Revocation:
    """A party root's statement that a device key is no longer a member, from a time on."""

    party_id: str
    device_key_id: str
    revoked_at: str
    reason: str
    signature: str

    def signed_part(self) -> dict[str, Any]:
        return {
            "type": REVOCATION_TYPE,
            "party_id": self.party_id,
            "device_key_id": self.device_key_id,
            "revoked_at": self.revoked_at,
            "reason": self.reason,
        }

    def to_obj(self) -> dict[str, Any]:
        return {**self.signed_part(), "signature": self.signature}

    @classmethod
    def issue(cls, root: SigningKey, device_key_id: str, revoked_at: datetime, reason: str = "removed",
              party_id: str | None = None) -> Revocation:
        unsigned = cls(party_id or root.key_id, device_key_id, format_time(revoked_at), reason, "")
        return cls(**{**asdict(unsigned), "signature": sign_canonical(root, unsigned.signed_part())})

    @classmethod
    def from_obj(cls, obj: Any) -> Revocation:
        """Raises: InputError if malformed."""
        obj = _require_keys(obj, {"type", "party_id", "device_key_id", "revoked_at", "reason", "signature"},
                            "revocation")
        if obj["type"] != REVOCATION_TYPE:
            raise InputError("not a revocation")
        parse_time(obj["revoked_at"], what="revoked_at")
        return cls(
            party_id=_require_str(obj, "party_id", max_len=64),
            device_key_id=_require_str(obj, "device_key_id", max_len=64),
            revoked_at=obj["revoked_at"],
            reason=_require_str(obj, "reason"),
            signature=_require_str(obj, "signature", max_len=128),
        )


def verify_revocation(revocation: Revocation, root_key: str, *, party_id: str | None = None) -> None:
    """Raises: TrustError if the revocation is not signed by the party root (``party_id`` as above)."""
    if (party_id if party_id is not None else key_id(root_key)) != revocation.party_id:
        raise TrustError("revocation names a party whose root key is not the pinned one")
    try:
        verify_canonical(root_key, revocation.signed_part(), revocation.signature)
    except SignatureError:
        raise TrustError("revocation is not signed by the party root") from None


@dataclass(frozen=True)
class RootRotation:
    """A party's move to a new root key, signed by the old root (authority) and the new one (possession).

    The party id stays the id of the party's first root key.
    """

    party_id: str
    old_root_key: str
    new_root_key: str
    rotated_at: str
    old_signature: str
    new_signature: str

    def signed_part(self) -> dict[str, Any]:
        return {"type": ROTATION_TYPE, "party_id": self.party_id, "old_root_key": self.old_root_key,
                "new_root_key": self.new_root_key, "rotated_at": self.rotated_at}

    def to_obj(self) -> dict[str, Any]:
        return {**self.signed_part(), "old_signature": self.old_signature, "new_signature": self.new_signature}

    @classmethod
    def issue(cls, party_id: str, old_root: SigningKey, new_root: SigningKey, at: datetime) -> RootRotation:
        unsigned = cls(party_id, old_root.public_b64, new_root.public_b64, format_time(at), "", "")
        part = unsigned.signed_part()
        return cls(**{**asdict(unsigned), "old_signature": sign_canonical(old_root, part),
                      "new_signature": sign_canonical(new_root, part)})

    @classmethod
    def from_obj(cls, obj: Any) -> RootRotation:
        """Raises: InputError if malformed."""
        obj = _require_keys(obj, {"type", "party_id", "old_root_key", "new_root_key", "rotated_at", "old_signature",
                                  "new_signature"}, "root rotation")
        if obj["type"] != ROTATION_TYPE:
            raise InputError("not a root rotation")
        parse_time(obj["rotated_at"], what="rotated_at")
        for field in ("old_root_key", "new_root_key"):
            load_public_key(_require_str(obj, field, max_len=64))
        return cls(party_id=_require_str(obj, "party_id", max_len=64), old_root_key=obj["old_root_key"],
                   new_root_key=obj["new_root_key"], rotated_at=obj["rotated_at"],
                   old_signature=_require_str(obj, "old_signature", max_len=128),
                   new_signature=_require_str(obj, "new_signature", max_len=128))


def verify_rotation(rotation: RootRotation, party_id: str, current_root_key: str) -> None:
    """Check a rotation continues a party's root chain.

    Raises:
        TrustError: another party, not from the current root, a no-op, or a signature that fails.
    """
    if rotation.party_id != party_id:
        raise TrustError("root rotation for another party")
    if rotation.old_root_key != current_root_key:
        raise TrustError("root rotation does not start from the party's current root key")
    if rotation.new_root_key == rotation.old_root_key:
        raise TrustError("root rotation to the same key")
    try:
        verify_canonical(rotation.old_root_key, rotation.signed_part(), rotation.old_signature)
        verify_canonical(rotation.new_root_key, rotation.signed_part(), rotation.new_signature)
    except SignatureError:
        raise TrustError("root rotation is not signed by both the old and the new root key") from None


def root_chain(record: PartyRecord, rotations: Any) -> list[str]:
    """The party's root keys, first to current, after verifying every rotation in order.

    Raises:
        InputError: malformed rotations.  TrustError: a broken chain.
    """
    if not isinstance(rotations, list) or len(rotations) > 64:
        raise InputError("rotations must be a list")
    chain = [record.root_key]
    for obj in rotations:
        rotation = RootRotation.from_obj(obj)
        verify_rotation(rotation, record.party_id, chain[-1])
        chain.append(rotation.new_root_key)
    return chain


def rotation_times(rotations: Any) -> list[str]:
    """When each rotation retired the previous root (parallel to ``root_chain(...)[1:]``)."""
    return [obj["rotated_at"] for obj in rotations]


def verify_certificate_in_chain(cert: MemberCertificate, party_id: str, chain: list[str], retired_at: list[str],
                                *, at: datetime | None = None) -> None:
    """A certificate of a party that rotated its root: signed by the current root, or by an earlier root
    before that root was retired (``not_before`` earlier than the rotation).

    Raises:
        TrustError: as ``verify_certificate`` against the current root.
    """
    try:
        verify_certificate(cert, chain[-1], at=at, party_id=party_id)
        return
    except TrustError as current_error:
        for root, retired in zip(chain[:-1], retired_at, strict=False):
            if parse_time(cert.not_before) >= parse_time(retired):
                continue
            try:
                verify_certificate(cert, root, at=at, party_id=party_id)
                return
            except TrustError:
                continue
        raise current_error from None
