"""Party records, member certificates and revocations.

A party is its root key: the party id is the key id of the root key that
created it. The root signs a *party record* (name and root key), a *member
certificate* for each device (role, signing key, encryption key, validity
window) and a *revocation* when a device leaves. Nothing a relay says can
create one of these: each verifies against a root key that clients pin after
comparing fingerprints out of band.

Linked devices. A root-issued certificate may allow its member ``max_devices`` devices in all. One of
that member's devices then certifies another of the *same* member: the new certificate names the same
party, member and role, fits inside the certifying device's validity window, embeds the certifying
device's certificate (``linked_by``) and is signed by that device's key, so it chains through it to the
party root without the root key being online. Only the member's own devices hold a key that can sign
such a certificate (not the relay, not a colleague), and the root-issued certificate at the bottom of
the chain (its ``anchor``) names the person: other parties see every device of one anchor as one
person's. A device of a person may revoke another device of the same person (a lost laptop, from the
phone); the party root's revocation of a person's anchor device removes all of that person's devices.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

from parley.crypto.canonical import sign_canonical, verify_canonical
from parley.crypto.keys import SigningKey, check_recipient, key_id, load_public_key
from parley.errors import InputError, SignatureError, TrustError
from parley.protocol.times import format_time, parse_time

ROLES = ("head", "delegate", "expert", "observer")
PARTY_RECORD_TYPE = "parley.party.v1"
CERTIFICATE_TYPE = "parley.member-certificate.v1"
#: how many certificates deep a device may be linked from its root-issued certificate
MAX_LINK_DEPTH = 4
#: devices a root-issued certificate allows its member in all, when the root sets no number
DEFAULT_MAX_DEVICES = 4
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
    #: devices the member may have in all (root-issued certificates only; None: no linking allowed)
    max_devices: int | None = None
    #: the certificate of the member's device that certified this one (None: issued by the party root)
    linked_by: dict[str, Any] | None = field(default=None, hash=False)

    @property
    def device_key_id(self) -> str:
        return key_id(self.signing_key)

    @property
    def parent(self) -> MemberCertificate | None:
        """The certifying device's certificate, for a linked device."""
        return None if self.linked_by is None else MemberCertificate.from_obj(self.linked_by)

    @property
    def anchor(self) -> MemberCertificate:
        """The root-issued certificate this one chains to (itself when issued by the root)."""
        cert = self
        while cert.linked_by is not None:
            cert = MemberCertificate.from_obj(cert.linked_by)
        return cert

    @property
    def person_id(self) -> str:
        """One id for every device of one person: the device key id of the anchor certificate."""
        return self.anchor.device_key_id

    def chain_ids(self) -> list[str]:
        """Device key ids from this certificate down to its anchor."""
        ids, cert = [self.device_key_id], self
        while cert.linked_by is not None:
            cert = MemberCertificate.from_obj(cert.linked_by)
            ids.append(cert.device_key_id)
        return ids

    def signed_part(self) -> dict[str, Any]:
        part = {
            "type": CERTIFICATE_TYPE,
            "party_id": self.party_id,
            "member": self.member,
            "role": self.role,
            "signing_key": self.signing_key,
            "encryption_key": self.encryption_key,
            "not_before": self.not_before,
            "not_after": self.not_after,
        }
        # Optional fields are signed only when present, so certificates issued before them still verify.
        if self.max_devices is not None:
            part["max_devices"] = self.max_devices
        if self.linked_by is not None:
            part["linked_by"] = self.linked_by
        return part

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
        max_devices: int | None = None,
    ) -> MemberCertificate:
        """Sign a certificate with the party root (``party_id``: the party's id when the root was rotated;
        ``max_devices``: how many devices the member may link in all, this one included).

        Raises:
            InputError: unknown role, bad keys, an empty validity window, or a bad device count.
        """
        if max_devices is not None and not (isinstance(max_devices, int) and 1 <= max_devices <= 64):
            raise InputError("max_devices must be a whole number from 1 to 64")
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
            max_devices=max_devices,
        )
        return cls(**{**asdict(unsigned), "signature": sign_canonical(root, unsigned.signed_part())})

    @classmethod
    def link(cls, device: SigningKey, certificate: MemberCertificate, *, signing_key: str, encryption_key: str,
             not_before: datetime, not_after: datetime) -> MemberCertificate:
        """Certify a new device of the same member with an existing device's key (``device``, whose
        certificate is ``certificate``): same party, member and role, inside its validity window.

        Raises:
            InputError: bad keys, an empty window, a window outside the certifying device's, another
                device's key, or a chain already ``MAX_LINK_DEPTH`` deep.
        """
        if device.public_b64 != certificate.signing_key:
            raise InputError("a device links another with its own key only")
        if len(certificate.chain_ids()) >= MAX_LINK_DEPTH:
            raise InputError(f"a device can be linked at most {MAX_LINK_DEPTH} certificates from the party root")
        not_before = max(not_before, parse_time(certificate.not_before))
        not_after = min(not_after, parse_time(certificate.not_after))
        if not_after <= not_before:
            raise InputError("the certifying device's certificate has expired")
        load_public_key(signing_key)
        check_recipient(encryption_key)
        unsigned = cls(party_id=certificate.party_id, member=certificate.member, role=certificate.role,
                       signing_key=signing_key, encryption_key=encryption_key, not_before=format_time(not_before),
                       not_after=format_time(not_after), signature="", linked_by=certificate.to_obj())
        return cls(**{**asdict(unsigned), "signature": sign_canonical(device, unsigned.signed_part())})

    @classmethod
    def from_obj(cls, obj: Any, *, _depth: int = 0) -> MemberCertificate:
        """Parse (without checking the signature: see ``verify_certificate``).

        Raises:
            InputError: malformed.
        """
        base = {"type", "party_id", "member", "role", "signing_key", "encryption_key", "not_before", "not_after",
                "signature"}
        optional = {"max_devices", "linked_by"}
        if isinstance(obj, dict):
            obj = _require_keys(obj, base | (set(obj) & optional), "member certificate")
        else:
            raise InputError("member certificate must be a JSON object")
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
        if "max_devices" in obj:
            count = obj["max_devices"]
            if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= 64:
                raise InputError("max_devices must be a whole number from 1 to 64")
            cert = replace(cert, max_devices=count)
        if "linked_by" in obj:
            if _depth + 1 >= MAX_LINK_DEPTH:
                raise InputError(f"a device can be linked at most {MAX_LINK_DEPTH} certificates from the party root")
            cls.from_obj(obj["linked_by"], _depth=_depth + 1)
            if "max_devices" in obj:
                raise InputError("only the party root sets how many devices a member may have")
            cert = replace(cert, linked_by=obj["linked_by"])
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
    if cert.linked_by is not None:
        _verify_link(cert)
        verify_certificate(cert.parent, root_key, party_id=party_id)
        if at is not None and not (parse_time(cert.not_before) <= at <= parse_time(cert.not_after)):
            raise TrustError(f"certificate of '{cert.member}' is not valid at {format_time(at)}")
        return
    try:
        verify_canonical(root_key, cert.signed_part(), cert.signature)
    except SignatureError:
        raise TrustError(
            f"certificate of '{cert.member}' is not signed by the party root: a key the party did not issue"
        ) from None
    if at is not None and not (parse_time(cert.not_before) <= at <= parse_time(cert.not_after)):
        raise TrustError(f"certificate of '{cert.member}' is not valid at {format_time(at)}")


def _verify_link(cert: MemberCertificate) -> None:
    """A linked certificate against the certificate of the device that linked it (not yet its root).

    Raises:
        TrustError: another member, role or party than the linking device's; a window outside it; a root
            that allowed no linking; a signature not by the linking device.
    """
    parent = cert.parent
    if (parent.party_id, parent.member, parent.role) != (cert.party_id, cert.member, cert.role):
        raise TrustError(f"a device of '{parent.member}' certified a device of '{cert.member}' ({cert.role}): "
                         "a device may link devices of its own member only")
    if not (parse_time(parent.not_before) <= parse_time(cert.not_before)
            and parse_time(cert.not_after) <= parse_time(parent.not_after)):
        raise TrustError(f"a linked device of '{cert.member}' outlives the device that linked it")
    if (cert.anchor.max_devices or 1) < 2:
        raise TrustError(f"the party root allowed '{cert.member}' no linked devices")
    try:
        verify_canonical(parent.signing_key, cert.signed_part(), cert.signature)
    except SignatureError:
        raise TrustError(f"the linked device certificate of '{cert.member}' is not signed by the device it "
                         "names as its certifier") from None


@dataclass(frozen=True)
class Revocation:
    """A party root's statement that a device key is no longer a member, from a time on."""

    party_id: str
    device_key_id: str
    revoked_at: str
    reason: str
    signature: str
    #: the device of the same person that revoked this one (None: the party root did)
    by: str | None = None

    def signed_part(self) -> dict[str, Any]:
        part = {
            "type": REVOCATION_TYPE,
            "party_id": self.party_id,
            "device_key_id": self.device_key_id,
            "revoked_at": self.revoked_at,
            "reason": self.reason,
        }
        if self.by is not None:
            part["by"] = self.by
        return part

    def to_obj(self) -> dict[str, Any]:
        return {**self.signed_part(), "signature": self.signature}

    @classmethod
    def issue(cls, root: SigningKey, device_key_id: str, revoked_at: datetime, reason: str = "removed",
              party_id: str | None = None) -> Revocation:
        unsigned = cls(party_id or root.key_id, device_key_id, format_time(revoked_at), reason, "")
        return cls(**{**asdict(unsigned), "signature": sign_canonical(root, unsigned.signed_part())})

    @classmethod
    def issue_by_device(cls, device: SigningKey, certificate: MemberCertificate, device_key_id: str,
                        revoked_at: datetime, reason: str = "lost") -> Revocation:
        """A person's device revokes another device of the same person (see ``verify_device_revocation``)."""
        unsigned = cls(certificate.party_id, device_key_id, format_time(revoked_at), reason, "", device.key_id)
        return cls(**{**asdict(unsigned), "signature": sign_canonical(device, unsigned.signed_part())})

    @classmethod
    def from_obj(cls, obj: Any) -> Revocation:
        """Raises: InputError if malformed."""
        base = {"type", "party_id", "device_key_id", "revoked_at", "reason", "signature"}
        obj = _require_keys(obj, base | ({"by"} & set(obj) if isinstance(obj, dict) else set()), "revocation")
        if obj["type"] != REVOCATION_TYPE:
            raise InputError("not a revocation")
        parse_time(obj["revoked_at"], what="revoked_at")
        return cls(
            party_id=_require_str(obj, "party_id", max_len=64),
            device_key_id=_require_str(obj, "device_key_id", max_len=64),
            revoked_at=obj["revoked_at"],
            reason=_require_str(obj, "reason"),
            signature=_require_str(obj, "signature", max_len=128),
            by=_require_str(obj, "by", max_len=64) if "by" in obj else None,
        )


def verify_revocation(revocation: Revocation, root_key: str, *, party_id: str | None = None) -> None:
    """Raises: TrustError if the revocation is not signed by the party root (``party_id`` as above)."""
    if revocation.by is not None:
        raise TrustError("a device's revocation is checked against the revoking device (verify_device_revocation)")
    if (party_id if party_id is not None else key_id(root_key)) != revocation.party_id:
        raise TrustError("revocation names a party whose root key is not the pinned one")
    try:
        verify_canonical(root_key, revocation.signed_part(), revocation.signature)
    except SignatureError:
        raise TrustError("revocation is not signed by the party root") from None


def verify_device_revocation(revocation: Revocation, revoker: MemberCertificate, target: MemberCertificate) -> None:
    """A device's revocation of another device of the same person (both certificates already verified).

    Raises:
        TrustError: not by ``revoker``, another party, another person's device, or a bad signature.
    """
    if revocation.by is None or revocation.by != revoker.device_key_id:
        raise TrustError("the revocation is not by the device that presents it")
    if revocation.device_key_id != target.device_key_id or revocation.party_id != target.party_id:
        raise TrustError("the revocation names another device")
    if revoker.party_id != target.party_id or revoker.person_id != target.person_id:
        raise TrustError(f"a device of '{revoker.member}' may not remove a device of '{target.member}': "
                         "only the person's own devices or the party root may")
    try:
        verify_canonical(revoker.signing_key, revocation.signed_part(), revocation.signature)
    except SignatureError:
        raise TrustError("the device's revocation is not signed by that device") from None


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
        for name in ("old_root_key", "new_root_key"):
            load_public_key(_require_str(obj, name, max_len=64))
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
            # A linked device is as old as the root-issued certificate it chains to.
            if parse_time(cert.anchor.not_before) >= parse_time(retired):
                continue
            try:
                verify_certificate(cert, root, at=at, party_id=party_id)
                return
            except TrustError:
                continue
        raise current_error from None
