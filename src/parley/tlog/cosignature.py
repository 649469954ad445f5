"""C2SP tlog cosignatures (https://c2sp.org/tlog-cosignature), Ed25519 ``cosignature/v1``.

A cosignature is a signed-note signature line added to a checkpoint by a *cosigner* (here: every
party's client, a witness of the log it verified)::

    — <cosigner name> base64(key id || u64 timestamp || Ed25519 signature)

* key id = ``SHA-256(name || 0x0A || 0x04 || 32-byte public key)[:4]`` (signature type 0x04);
* the signed message is ``cosignature/v1\\n`` ``time <timestamp>\\n`` followed by the whole
  checkpoint body (origin, size, root and any extension lines, ending in a newline).

Semantics: "as of <timestamp>, the largest consistent tree this cosigner has seen for this origin
has this root". Byte-compatible with the Go implementations (transparency-dev/formats'
``NewSignerForCosignatureV1``, filippo.io/torchwood), checked against their vectors in
``tests/vectors/cosignature``.

A quorum (:func:`cosigned_by`) counts distinct cosigners whose signature verifies over the
checkpoint body the *verifier* holds: a relay that showed two parties two histories cannot
collect, for either body, the cosignature of the party that saw the other.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from parley.crypto.keys import signing_key, verify_raw
from parley.errors import InputError, VerificationError
from parley.tlog.note import decode_base64_strict, is_valid_key_name

#: the signed-note signature type of an Ed25519 cosignature/v1 (plain Ed25519 notes are 0x01)
ALG_COSIGNATURE_V1 = 0x04
ALG_ED25519 = 0x01
#: the spec: a timestamp is a u64 that MUST NOT exceed 2^63 - 1
MAX_TIMESTAMP = 2**63 - 1
_HEADER = "cosignature/v1\n"
_PREFIX = "\u2014 "
_PAYLOAD_BYTES = 4 + 8 + 64


@dataclass(frozen=True)
class Cosigner:
    """A cosigner's public identity: name, Ed25519 public key (32 raw bytes) and its 0x04 key id."""

    name: str
    public_key: bytes

    def __post_init__(self) -> None:
        if not is_valid_key_name(self.name):
            raise InputError(f"invalid cosigner name {self.name!r}: non-empty, without spaces or '+'")
        if not isinstance(self.public_key, bytes) or len(self.public_key) != 32:
            raise InputError("a cosigner's Ed25519 public key is 32 bytes")

    @property
    def key_id(self) -> bytes:
        return cosigner_key_id(self.name, self.public_key)

    def vkey(self) -> str:
        """The verifier key string ``name+hex8+base64(0x04 || key)``."""
        material = base64.b64encode(bytes([ALG_COSIGNATURE_V1]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{material}"

    @classmethod
    def from_vkey(cls, vkey: str) -> Cosigner:
        """Parse a cosigner verifier key: type 0x04, or a plain Ed25519 (0x01) note key, which Go's
        ``NewVerifierForCosignatureV1`` also accepts (the key id is then recomputed for 0x04).

        Raises:
            InputError: malformed key, unknown type, or a key id that does not match.
        """
        if not isinstance(vkey, str):
            raise InputError("a verifier key is a string")
        name, _, rest = vkey.partition("+")
        hex_id, _, encoded = rest.partition("+")
        material = decode_base64_strict(encoded)
        if not is_valid_key_name(name) or len(hex_id) != 8 or material is None or len(material) != 33:
            raise InputError(f"malformed cosigner verifier key {vkey[:60]!r}")
        try:
            claimed = bytes.fromhex(hex_id)
        except ValueError:
            raise InputError(f"cosigner verifier key {name!r} needs an 8-digit hex key id") from None
        alg, key = material[0], material[1:]
        if alg not in (ALG_COSIGNATURE_V1, ALG_ED25519):
            raise InputError(f"cosigner verifier key {name!r} has type {alg:#04x}, not Ed25519 (0x04 or 0x01)")
        expected = hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + key).digest()[:4]
        if claimed != expected:
            raise InputError(f"cosigner verifier key {name!r} has key id {hex_id}, expected {expected.hex()}")
        return cls(name, key)


def cosigner_key_id(name: str, public_key: bytes) -> bytes:
    """``SHA-256(name || "\\n" || 0x04 || public key)[:4]``."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALG_COSIGNATURE_V1]) + public_key).digest()[:4]


def cosignature_message(timestamp: int, checkpoint_text: str) -> bytes:
    """The bytes an Ed25519 cosignature/v1 signs.

    Raises:
        InputError: a timestamp outside [0, 2^63-1], or a body of fewer than three lines.
    """
    _check_timestamp(timestamp)
    if not isinstance(checkpoint_text, str) or not checkpoint_text.endswith("\n") or checkpoint_text.count("\n") < 3:
        raise InputError("a cosigned checkpoint body has at least three lines and ends in a newline")
    return f"{_HEADER}time {timestamp}\n{checkpoint_text}".encode()


def cosign(checkpoint_text: str, name: str, private_key: Any, timestamp: int) -> str:
    """A cosignature line (ending in a newline) over ``checkpoint_text`` as of ``timestamp``.

    Raises:
        InputError: bad name, timestamp or body.

    ``private_key``: a ``parley.crypto.keys.SigningKey`` or its private key object.
    """
    key = signing_key(private_key)
    cosigner = Cosigner(name, key.public_raw)
    signature = key.sign_raw(cosignature_message(timestamp, checkpoint_text))
    payload = cosigner.key_id + struct.pack(">Q", timestamp) + signature
    return f"{_PREFIX}{name} {base64.b64encode(payload).decode()}\n"


@dataclass(frozen=True)
class CosignatureLine:
    """A parsed cosignature line: who (name, key id), when, and the 64-byte signature."""

    name: str
    key_id: bytes
    timestamp: int
    signature: bytes
    line: str


def parse_cosignature_line(line: str) -> CosignatureLine:
    """Parse ``— name base64(key id || timestamp || signature)`` (with or without its final newline).

    Raises:
        VerificationError: not a cosignature/v1 line (wrong shape, size, or a timestamp over 2^63-1).
    """
    if not isinstance(line, str):
        raise VerificationError("a cosignature line is text")
    body = line[:-1] if line.endswith("\n") else line
    if "\n" in body or not body.startswith(_PREFIX):
        raise VerificationError("malformed cosignature: one line starting with an em dash")
    name, _, encoded = body[len(_PREFIX):].partition(" ")
    payload = decode_base64_strict(encoded)
    if not is_valid_key_name(name) or payload is None:
        raise VerificationError("malformed cosignature: not '— name base64'")
    if len(payload) != _PAYLOAD_BYTES:
        raise VerificationError(f"malformed cosignature: {len(payload)} bytes, a cosignature/v1 has {_PAYLOAD_BYTES}")
    (timestamp,) = struct.unpack(">Q", payload[4:12])
    if timestamp > MAX_TIMESTAMP:
        raise VerificationError("malformed cosignature: timestamp over 2^63-1")
    return CosignatureLine(name, payload[:4], timestamp, payload[12:], body + "\n")


def verify_cosignature(checkpoint_text: str, line: str, cosigner: Cosigner) -> int:
    """Check one cosignature line by ``cosigner`` over ``checkpoint_text``; returns its timestamp.

    Raises:
        VerificationError: malformed line, another cosigner (name or key id), or a signature that
            does not verify over this body (for a checkpoint: another size or root, i.e. another view).
    """
    parsed = parse_cosignature_line(line)
    if parsed.name != cosigner.name or parsed.key_id != cosigner.key_id:
        raise VerificationError(f"cosignature by {parsed.name}+{parsed.key_id.hex()}, not by {cosigner.name}")
    message = cosignature_message(parsed.timestamp, checkpoint_text)
    if not verify_raw(cosigner.public_key, message, parsed.signature):
        raise VerificationError(f"cosignature by {cosigner.name} does not verify over this checkpoint") from None
    return parsed.timestamp


def cosigned_by(checkpoint_text: str, lines: Iterable[str], cosigners: Mapping[str, Iterable[Cosigner]]) -> dict[str, int]:
    """Which of ``cosigners`` (grouped: group -> its keys, e.g. party -> its member devices) cosigned
    ``checkpoint_text``. Returns group -> latest valid timestamp. Lines by unknown keys, malformed
    lines and lines that do not verify over this body are ignored (as the signed-note spec says of
    unknown signatures): they cannot count, and a relay could always withhold lines anyway.
    """
    index: dict[tuple[str, bytes], list[tuple[str, Cosigner]]] = {}
    for group, keys in cosigners.items():
        for cosigner in keys:
            index.setdefault((cosigner.name, cosigner.key_id), []).append((group, cosigner))
    found: dict[str, int] = {}
    for line in lines:
        try:
            parsed = parse_cosignature_line(line)
        except VerificationError:
            continue
        for group, cosigner in index.get((parsed.name, parsed.key_id), ()):
            try:
                timestamp = verify_cosignature(checkpoint_text, line, cosigner)
            except VerificationError:
                continue
            found[group] = max(found.get(group, 0), timestamp)
    return found


def _check_timestamp(timestamp: int) -> None:
    if not isinstance(timestamp, int) or isinstance(timestamp, bool) or not 0 <= timestamp <= MAX_TIMESTAMP:
        raise InputError("a cosignature timestamp is an integer in [0, 2^63-1]")
