"""Key fingerprints as digit groups, for comparison out of band.

Like Signal's safety numbers: 30 decimal digits in six groups of five, derived
from SHA-512 of a domain-separated public key. Digits survive being read over
a phone line or printed on paper, and a QR code carries the same string.
"""

from __future__ import annotations

import hashlib
import hmac

from parley.crypto.keys import b64decode
from parley.errors import InputError

_DOMAIN = b"parley-fingerprint-v1\x00"
GROUPS = 6
GROUP_DIGITS = 5


def fingerprint_digits(public_key_b64: str) -> str:
    """The fingerprint of an Ed25519 public key as ``"12345 67890 ..."``.

    Raises:
        InputError: the key is not base64.
    """
    raw = b64decode(public_key_b64, what="public key")
    digest = hashlib.sha512(_DOMAIN + raw).digest()
    groups = []
    for index in range(GROUPS):
        chunk = digest[index * 5 : index * 5 + 5]
        groups.append(f"{int.from_bytes(chunk, 'big') % 10**GROUP_DIGITS:05d}")
    return " ".join(groups)


def parse_fingerprint(text: str) -> str:
    """Normalise a typed fingerprint (spaces, dashes, newlines allowed) to canonical groups.

    Raises:
        InputError: not exactly 30 digits.
    """
    if not isinstance(text, str) or len(text) > 200:
        raise InputError("a fingerprint is 30 digits")
    digits = "".join(ch for ch in text if ch not in " -\t\r\n")
    if len(digits) != GROUPS * GROUP_DIGITS or not all("0" <= ch <= "9" for ch in digits):
        raise InputError("a fingerprint is 30 digits (six groups of five)")
    return " ".join(digits[i : i + GROUP_DIGITS] for i in range(0, len(digits), GROUP_DIGITS))


def fingerprint_matches(public_key_b64: str, typed: str) -> bool:
    """Whether a typed fingerprint is the key's. Raises: InputError if ``typed`` is malformed."""
    expected = fingerprint_digits(public_key_b64).encode()
    return hmac.compare_digest(expected, parse_fingerprint(typed).encode())
