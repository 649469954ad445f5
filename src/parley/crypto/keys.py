"""Ed25519 signing keys and age X25519 identities.

Keys cross module boundaries as standard strings: Ed25519 public keys as base64
of the 32 raw bytes, age recipients as ``age1...`` and identities as
``AGE-SECRET-KEY-1...``. Raw key objects never leave ``parley.crypto``
callers except as opaque handles.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from dataclasses import dataclass
from functools import lru_cache

import pyrage
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from parley.errors import InputError, SignatureError

#: bytes of SHA-256 kept in a key id; 128 bits is collision-safe for a directory
KEY_ID_BYTES = 16


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str, *, what: str = "value") -> bytes:
    """Strict standard base64.

    Raises:
        InputError: the text is not canonical base64.
    """
    if not isinstance(text, str):
        raise InputError(f"{what} must be a base64 string")
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise InputError(f"{what} is not valid base64") from None
    if base64.b64encode(data).decode("ascii") != text:
        raise InputError(f"{what} is not canonical base64")
    return data


#: the type of a parsed Ed25519 public key, for annotations outside ``parley.crypto``
PublicKey = Ed25519PublicKey


def new_nonce() -> str:
    """16 random bytes, base64: what makes each signed event header unique."""
    return b64encode(secrets.token_bytes(16))


def raw_public_bytes(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_b64(public_key: Ed25519PublicKey) -> str:
    return b64encode(raw_public_bytes(public_key))


def public_key_from_raw(raw: bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from its 32 raw bytes.

    Raises:
        InputError: not 32 bytes.
    """
    if not isinstance(raw, bytes) or len(raw) != 32:
        raise InputError("an Ed25519 public key is 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def verify_raw(public_key: Ed25519PublicKey | bytes, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` (64 raw bytes) is a valid Ed25519 signature of ``message`` by ``public_key``
    (a parsed key or its 32 raw bytes). A malformed key or signature is simply not valid."""
    try:
        key = public_key_from_raw(public_key) if isinstance(public_key, bytes) else public_key
        key.verify(signature, message)
    except (InputError, InvalidSignature, ValueError, TypeError):
        return False
    return True


def load_public_key(text: str) -> Ed25519PublicKey:
    """Parse an Ed25519 public key from base64 of its 32 raw bytes.

    Raises:
        InputError: not base64 or not 32 bytes.
    """
    raw = b64decode(text, what="public key")
    if len(raw) != 32:
        raise InputError("public key must be 32 bytes of Ed25519")
    return Ed25519PublicKey.from_public_bytes(raw)


@lru_cache(maxsize=8192)
def key_id(public_key_text: str) -> str:
    """Hex id of an Ed25519 public key (base64 form): SHA-256 of the raw key, truncated. Cached: the
    rule book asks for the id of every member's certificate key on every event.

    Raises:
        InputError: the key is malformed.
    """
    raw = raw_public_bytes(load_public_key(public_key_text))
    return hashlib.sha256(raw).digest()[:KEY_ID_BYTES].hex()


def verify_bytes(public_key_text: str, message: bytes, signature_b64: str) -> None:
    """Check an Ed25519 signature.

    Raises:
        SignatureError: malformed key or signature, or the signature does not verify.
    """
    try:
        public_key = load_public_key(public_key_text)
        signature = b64decode(signature_b64, what="signature")
        public_key.verify(signature, message)
    except (InputError, InvalidSignature, ValueError):
        raise SignatureError("signature verification failed") from None


@dataclass(frozen=True)
class SigningKey:
    """An Ed25519 private key with its public forms."""

    private: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed_b64(cls, seed: str) -> SigningKey:
        """Raises: InputError if the seed is not 32 bytes of base64."""
        return cls.from_seed(b64decode(seed, what="signing key seed"))

    @classmethod
    def from_seed(cls, raw: bytes) -> SigningKey:
        """Raises: InputError if the seed is not 32 bytes."""
        if not isinstance(raw, bytes) or len(raw) != 32:
            raise InputError("signing key seed must be 32 bytes")
        return cls(Ed25519PrivateKey.from_private_bytes(raw))

    def seed(self) -> bytes:
        """The 32-byte private seed (secret)."""
        return self.private.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())

    def seed_b64(self) -> str:
        return b64encode(self.seed())

    @property
    def public_raw(self) -> bytes:
        """The 32 raw bytes of the public key."""
        return raw_public_bytes(self.public)

    @property
    def public(self) -> Ed25519PublicKey:
        return self.private.public_key()

    @property
    def public_b64(self) -> str:
        return public_key_b64(self.public)

    @property
    def key_id(self) -> str:
        return key_id(self.public_b64)

    def sign(self, message: bytes) -> str:
        """Base64 Ed25519 signature of ``message``."""
        return b64encode(self.private.sign(message))

    def sign_raw(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message``."""
        return self.private.sign(message)


def signing_key(key: SigningKey | Ed25519PrivateKey) -> SigningKey:
    """``key`` as a ``SigningKey`` (callers may hold the private key object of one)."""
    return key if isinstance(key, SigningKey) else SigningKey(key)


@dataclass(frozen=True)
class EncryptionKey:
    """An age X25519 identity (``AGE-SECRET-KEY-1...``) and its recipient (``age1...``)."""

    identity: str

    @classmethod
    def generate(cls) -> EncryptionKey:
        return cls(str(pyrage.x25519.Identity.generate()))

    @property
    def recipient(self) -> str:
        return str(pyrage.x25519.Identity.from_str(self.identity).to_public())


def check_recipient(recipient: str) -> str:
    """Validate an age X25519 recipient string and return it.

    Raises:
        InputError: not an ``age1...`` X25519 recipient.
    """
    if not isinstance(recipient, str) or not recipient.startswith("age1"):
        raise InputError("encryption key must be an age X25519 recipient (age1...)")
    try:
        pyrage.x25519.Recipient.from_str(recipient)
    except Exception:  # pyrage raises its own RecipientError / ValueError variants
        raise InputError("encryption key is not a valid age X25519 recipient") from None
    return recipient
