"""age encryption (X25519 recipients only) through pyrage.

A sealed payload is a standard age file: ``age -d -i identity.txt`` opens it. Event bodies are sealed
padded (``seal_padded``): the age payload is the body, one 0x80 byte and zeros up to its Padmé bucket.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import BinaryIO

import pyrage

from parley.crypto.keys import EncryptionKey, check_recipient
from parley.crypto.padding import pad, unpad
from parley.errors import InputError, VerificationError


def _recipients(recipients: Sequence[str]) -> list[pyrage.x25519.Recipient]:
    if not recipients:
        raise InputError("cannot encrypt to nobody: the recipient list is empty")
    return [pyrage.x25519.Recipient.from_str(check_recipient(r)) for r in recipients]


def seal(plaintext: bytes, recipients: Sequence[str]) -> bytes:
    """Encrypt ``plaintext`` once for every recipient in ``recipients`` (age ``age1...`` strings).

    Raises:
        InputError: no recipients, or a malformed recipient.
    """
    return pyrage.encrypt(plaintext, _recipients(recipients))


def seal_stream(source: BinaryIO, sink: BinaryIO, recipients: Sequence[str]) -> None:
    """Encrypt a stream to a stream without holding it whole in memory.

    Raises:
        InputError: no recipients, or a malformed recipient.
    """
    pyrage.encrypt_io(source, sink, _recipients(recipients))


def open_sealed(ciphertext: bytes, key: EncryptionKey) -> bytes:
    """Decrypt an age payload with our identity.

    Raises:
        VerificationError: the payload is not for us, or is corrupt.
    """
    try:
        return pyrage.decrypt(ciphertext, [pyrage.x25519.Identity.from_str(key.identity)])
    except Exception:  # pyrage.DecryptError and malformed-header ValueErrors alike
        raise VerificationError("cannot decrypt: the ciphertext is not addressed to this key or is corrupt") from None


def open_stream(source: BinaryIO, sink: BinaryIO, key: EncryptionKey) -> None:
    """Decrypt a stream to a stream.

    Raises:
        VerificationError: not for us, or corrupt.
    """
    try:
        pyrage.decrypt_io(source, sink, [pyrage.x25519.Identity.from_str(key.identity)])
    except Exception:
        raise VerificationError("cannot decrypt: the ciphertext is not addressed to this key or is corrupt") from None


def seal_padded(plaintext: bytes, recipients: Sequence[str]) -> bytes:
    """``seal`` of ``plaintext`` padded to its Padmé bucket (``parley.crypto.padding``), so the
    ciphertext's size tells the relay only the bucket and the number of recipients.

    Raises:
        InputError: no recipients, or a malformed recipient.
    """
    return seal(pad(plaintext), recipients)


def open_padded(ciphertext: bytes, key: EncryptionKey) -> bytes:
    """Decrypt a ``seal_padded`` payload and remove its padding.

    Raises:
        VerificationError: not for us, or corrupt.
        ProtocolError: the payload carries no valid padding.
    """
    return unpad(open_sealed(ciphertext, key))


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
