"""C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 keys.

A signed note is a text ending in a newline, a blank line, then signature lines
``— <key name> <base64(key id || signature)>`` (em dash U+2014). The signature covers the text
including its final newline. Byte-for-byte compatible with golang.org/x/mod/sumdb/note, so Go
witnesses and verifiers accept parley checkpoints.

Key strings:

* verifier key: ``<name>+<hex8 key id>+<base64(0x01 || 32-byte public key)>``
* signer key:   ``PRIVATE+KEY+<name>+<hex8 key id>+<base64(0x01 || 32-byte seed)>``

with key id = the first 4 bytes of ``SHA-256(name || 0x0A || 0x01 || public key)``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from typing import Any

from parley.crypto.keys import (
    PublicKey,
    SigningKey,
    public_key_from_raw,
    raw_public_bytes,
    signing_key,
    verify_raw,
)
from parley.errors import InputError, SignatureError, VerificationError

ALG_ED25519 = 0x01
#: Go's sumdb/note limit; beyond it a note is rejected before any signature is checked.
MAX_SIGNATURES = 100
#: Defensive cap on the whole encoded note (texts here are checkpoints of a few hundred bytes).
MAX_NOTE_BYTES = 1 << 20

_SIGNATURE_PREFIX = "\u2014 "
_PRIVATE_KEY_PREFIX = "PRIVATE+KEY+"
_FORBIDDEN_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
_HEX8 = re.compile(r"[0-9a-fA-F]{8}")


def is_valid_key_name(name: str) -> bool:
    """The spec's rule: non-empty, no Unicode whitespace, no ``+`` (it separates key fields)."""
    return (
        isinstance(name, str)
        and name != ""
        and not any(ch.isspace() or ch == "+" for ch in name)
        and _FORBIDDEN_CONTROL.search(name) is None
        and _encodes_as_utf8(name)
    )


def key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte key id of an Ed25519 ``public_key`` (32 raw bytes) under ``name``."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([ALG_ED25519]) + public_key).digest()[:4]


def vkey_for(name: str, public_key: PublicKey) -> str:
    """Verifier key string for ``public_key`` under ``name``.

    Raises:
        InputError: ``name`` is not a valid key name.
    """
    _check_name(name)
    raw = raw_public_bytes(public_key)
    return f"{name}+{key_id(name, raw).hex()}+{_b64(bytes([ALG_ED25519]) + raw)}"


class Signer:
    """An Ed25519 note signer: a key name and a private key."""

    def __init__(self, name: str, private_key: Any) -> None:
        """``private_key``: a ``parley.crypto.keys.SigningKey`` or its private key object.

        Raises: InputError if ``name`` is not a valid key name."""
        _check_name(name)
        self.name = name
        self._key = signing_key(private_key)
        self.public_key = self._key.public
        self.key_id = key_id(name, self._key.public_raw)

    @classmethod
    def from_skey(cls, skey: str) -> Signer:
        """Parse a ``PRIVATE+KEY+...`` signer key string.

        Raises:
            InputError: malformed key string, or a key id that does not match the key.
        """
        if not isinstance(skey, str) or not skey.startswith(_PRIVATE_KEY_PREFIX):
            raise InputError("signer key must start with PRIVATE+KEY+")
        name, claimed_id, seed = _split_key(skey[len(_PRIVATE_KEY_PREFIX) :], "signer key")
        signer = cls(name, SigningKey.from_seed(seed))
        if signer.key_id != claimed_id:
            raise InputError(f"signer key for {name!r} has key id {claimed_id.hex()}, expected {signer.key_id.hex()}")
        return signer

    def skey(self) -> str:
        """The signer key string (secret: store it like a private key)."""
        seed = self._key.seed()
        return f"{_PRIVATE_KEY_PREFIX}{self.name}+{self.key_id.hex()}+{_b64(bytes([ALG_ED25519]) + seed)}"

    def vkey(self) -> str:
        """The matching verifier key string."""
        return vkey_for(self.name, self.public_key)

    def sign(self, message: bytes) -> bytes:
        return self._key.sign_raw(message)


class Verifier:
    """An Ed25519 note verifier: a key name, key id and public key."""

    def __init__(self, name: str, public_key: PublicKey) -> None:
        """Raises: InputError if ``name`` is not a valid key name."""
        _check_name(name)
        self.name = name
        self.public_key = public_key
        self.raw_public_key = raw_public_bytes(public_key)
        self.key_id = key_id(name, self.raw_public_key)

    @classmethod
    def from_vkey(cls, vkey: str) -> Verifier:
        """Parse a ``name+hex8+base64`` verifier key string.

        Raises:
            InputError: malformed key string, or a key id that does not match the key.
        """
        if not isinstance(vkey, str):
            raise InputError("verifier key must be a string")
        name, claimed_id, raw = _split_key(vkey, "verifier key")
        try:
            public_key = public_key_from_raw(raw)
        except (InputError, ValueError) as err:
            raise InputError(f"verifier key for {name!r} is not a valid Ed25519 public key") from err
        verifier = cls(name, public_key)
        if verifier.key_id != claimed_id:
            raise InputError(f"verifier key for {name!r} has key id {claimed_id.hex()}, expected {verifier.key_id.hex()}")
        return verifier

    def verify(self, message: bytes, signature: bytes) -> bool:
        return verify_raw(self.public_key, message, signature)


def new_signer_key(name: str) -> tuple[str, str]:
    """A fresh Ed25519 key pair as ``(signer key string, verifier key string)``.

    Raises:
        InputError: ``name`` is not a valid key name.
    """
    signer = Signer(name, SigningKey.generate())
    return signer.skey(), signer.vkey()


def sign_note(text: str, signers: Sequence[Signer]) -> str:
    """Sign ``text`` with every signer and return the signed note.

    The text must be non-empty, end in a newline, contain no blank line and no control characters
    other than newline, so that :func:`open_note` (and Go's ``note.Open``) read it back unchanged.

    Raises:
        InputError: bad text, no signers, duplicate signers, or a note over the size limits.
    """
    _check_note_text(text)
    if not signers:
        raise InputError("a note needs at least one signer")
    if len(signers) > MAX_SIGNATURES:
        raise InputError(f"a note carries at most {MAX_SIGNATURES} signatures")
    if len({(signer.name, signer.key_id) for signer in signers}) != len(signers):
        raise InputError("the same key signs a note only once")
    message = text.encode()
    lines = [
        f"{_SIGNATURE_PREFIX}{signer.name} {_b64(signer.key_id + signer.sign(message))}\n" for signer in signers
    ]
    note = text + "\n" + "".join(lines)
    if len(note.encode()) > MAX_NOTE_BYTES:
        raise InputError(f"signed note would exceed {MAX_NOTE_BYTES} bytes")
    return note


def open_note(note_text: str, vkeys: Sequence[str | Verifier]) -> str:
    """Verify a signed note and return its text.

    Succeeds when at least one signature is by one of ``vkeys`` (key strings or :class:`Verifier`)
    and every signature by those keys verifies. Signatures by unknown keys are ignored, as the
    spec requires; repeated signatures by one key are checked once.

    Raises:
        VerificationError: the note is malformed or over the limits.
        SignatureError: a signature by a known key is invalid, or no signature is by a known key.
        InputError: a verifier key string is malformed, or two different keys share name and id.
    """
    verifiers = _verifier_index(vkeys)
    text, signatures = _split_note(note_text)
    message = text.encode()
    checked: set[tuple[str, bytes]] = set()
    for name, signature in signatures:
        identity = (name, signature[:4])
        verifier = verifiers.get(identity)
        if verifier is None or identity in checked:
            continue
        checked.add(identity)
        if not verifier.verify(message, signature[4:]):
            raise SignatureError(f"invalid note signature for key {name}+{signature[:4].hex()}")
    if not checked:
        known = ", ".join(sorted(f"{name}+{kid.hex()}" for name, kid in verifiers)) or "none"
        raise SignatureError(f"note has no signature by a trusted key (trusted: {known})")
    return text


def _split_note(note_text: str) -> tuple[str, list[tuple[str, bytes]]]:
    """Parse a signed note into its text and ``(key name, key id || signature)`` pairs."""
    if not isinstance(note_text, str):
        raise VerificationError("signed note must be text")
    # Checking the character count first avoids encoding a huge string just to reject it.
    if len(note_text) > MAX_NOTE_BYTES or not _encodes_as_utf8(note_text):
        raise VerificationError(f"malformed note: not UTF-8 text of at most {MAX_NOTE_BYTES} bytes")
    if len(note_text.encode()) > MAX_NOTE_BYTES:
        raise VerificationError(f"malformed note: larger than {MAX_NOTE_BYTES} bytes")
    if _FORBIDDEN_CONTROL.search(note_text):
        raise VerificationError("malformed note: contains a control character")
    # As Go does: the LAST blank line separates text from signatures.
    split = note_text.rfind("\n\n")
    if split < 0:
        raise VerificationError("malformed note: no blank line before the signatures")
    text, block = note_text[: split + 1], note_text[split + 2 :]
    if not block.endswith("\n"):
        raise VerificationError("malformed note: signature block must end in a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise VerificationError(f"malformed note: more than {MAX_SIGNATURES} signature lines")
    signatures = []
    for number, line in enumerate(lines, start=1):
        if not line.startswith(_SIGNATURE_PREFIX):
            raise VerificationError(f"malformed note: signature line {number} does not start with an em dash")
        name, _, encoded = line[len(_SIGNATURE_PREFIX) :].partition(" ")
        signature = decode_base64_strict(encoded)
        if not is_valid_key_name(name) or signature is None or len(signature) < 5:
            raise VerificationError(f"malformed note: signature line {number} is not '— name base64'")
        signatures.append((name, signature))
    return text, signatures


def _verifier_index(vkeys: Sequence[str | Verifier]) -> dict[tuple[str, bytes], Verifier]:
    if isinstance(vkeys, str):
        raise InputError("pass a list of verifier keys, not a single string")
    index: dict[tuple[str, bytes], Verifier] = {}
    for vkey in vkeys:
        verifier = vkey if isinstance(vkey, Verifier) else Verifier.from_vkey(vkey)
        identity = (verifier.name, verifier.key_id)
        existing = index.get(identity)
        if existing is not None and existing.raw_public_key != verifier.raw_public_key:
            raise InputError(f"ambiguous verifier keys: two keys are named {verifier.name}+{verifier.key_id.hex()}")
        index[identity] = verifier
    return index


def _split_key(key: str, what: str) -> tuple[str, bytes, bytes]:
    """``name+hex8+base64(0x01 || 32 bytes)`` -> (name, key id, 32 key bytes)."""
    name, _, rest = key.partition("+")
    hex_id, _, encoded = rest.partition("+")
    if not is_valid_key_name(name):
        raise InputError(f"{what} has an invalid key name")
    if not _HEX8.fullmatch(hex_id):
        raise InputError(f"{what} for {name!r} needs an 8-digit hex key id")
    material = decode_base64_strict(encoded)
    if material is None or len(material) != 33 or material[0] != ALG_ED25519:
        raise InputError(f"{what} for {name!r} is not an Ed25519 key (0x01 || 32 bytes, base64)")
    return name, bytes.fromhex(hex_id), material[1:]


def _check_note_text(text: str) -> None:
    if not isinstance(text, str) or not text.endswith("\n"):
        raise InputError("note text must be non-empty and end in a newline")
    if text.startswith("\n") or "\n\n" in text:
        raise InputError("note text must not contain blank lines")
    if _FORBIDDEN_CONTROL.search(text) or not _encodes_as_utf8(text):
        raise InputError("note text must be UTF-8 without control characters other than newline")


def _check_name(name: str) -> None:
    if not is_valid_key_name(name):
        raise InputError(f"invalid key name {name!r}: it must be non-empty, without spaces or '+'")


def decode_base64_strict(encoded: str) -> bytes | None:
    """Decode standard padded base64, or None unless ``encoded`` is the one canonical encoding
    (so a signature or hash has exactly one textual form)."""
    try:
        decoded = base64.b64decode(encoded.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None
    return decoded if encoded and _b64(decoded) == encoded else None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _encodes_as_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
