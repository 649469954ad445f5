"""Padmé padding: a plaintext's length rounded up to one of few sizes before it is encrypted.

Padmé (Nikitin et al., "Reducing Metadata Leakage from Encrypted Files and Communication with
PURBs", PETS 2019) keeps the top ``floor(log2(E)) + 1`` bits of a length ``L`` with ``E = floor(log2(L))``
and rounds the rest up, so a padded length reveals O(log log L) bits and costs at most 12 %
(less as ``L`` grows). The padding itself is ISO/IEC 7816-4's: one 0x80 byte, then zero bytes, so it is
removed unambiguously after decryption.
"""

from __future__ import annotations

from parley.errors import ProtocolError

_MARK = b"\x80"


def padme_length(length: int) -> int:
    """The Padmé bucket of ``length`` (>= ``length``).

    Raises:
        ValueError: a negative length.
    """
    if length < 0:
        raise ValueError("a length is never negative")
    if length < 2:
        return length
    exponent = length.bit_length() - 1  # floor(log2(L))
    size_bits = exponent.bit_length()  # floor(log2(E)) + 1
    last_bits = exponent - size_bits
    mask = (1 << last_bits) - 1
    return (length + mask) & ~mask


def pad(plaintext: bytes) -> bytes:
    """``plaintext``, then 0x80, then zeros up to the Padmé bucket of ``len(plaintext) + 1``."""
    total = padme_length(len(plaintext) + 1)
    return plaintext + _MARK + bytes(total - len(plaintext) - 1)


def unpad(padded: bytes) -> bytes:
    """Remove the padding ``pad`` added.

    Raises:
        ProtocolError: no padding, or padding longer than Padmé allows (not what ``pad`` wrote).
    """
    stripped = padded.rstrip(b"\x00")
    if not stripped.endswith(_MARK):
        raise ProtocolError("the decrypted payload carries no padding: not written by a parley client")
    plaintext = stripped[:-1]
    if padme_length(len(plaintext) + 1) != len(padded):
        raise ProtocolError("the decrypted payload is padded to another size than its bucket")
    return plaintext
