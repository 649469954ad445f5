"""The short code that links a new device to a person's membership.

The new device draws 80 random bits and shows them as 16 characters (Crockford base32, in groups of four:
``7KQ2-M9XD-0RTV-4HJB``). The person types them on a device they already hold. Both derive from the code,
with HKDF-SHA256, a *slot* (where the relay keeps the two messages of the exchange) and a MAC key: the
new device's public keys and the existing device's answer are each authenticated with HMAC-SHA256 under
that key. The relay sees the slot, never the code, so it can neither swap the new device's keys for its
own nor forge the answer (finding the code from the slot means trying 2^80 codes).
"""

from __future__ import annotations

import hmac
import secrets
from hashlib import sha256

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from parley.errors import InputError, VerificationError

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U
_CODE_BYTES = 10
_CODE_CHARS = 16


def new_link_code() -> str:
    """A fresh code, ``XXXX-XXXX-XXXX-XXXX``."""
    value = int.from_bytes(secrets.token_bytes(_CODE_BYTES), "big")
    chars = "".join(_ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(_CODE_CHARS)))
    return "-".join(chars[i:i + 4] for i in range(0, _CODE_CHARS, 4))


def normalize_link_code(text: str) -> str:
    """The code as typed (any case, spaces or dashes, O for 0 and I/L for 1) in its canonical form.

    Raises:
        InputError: not 16 code characters.
    """
    cleaned = "".join(ch for ch in text.upper() if ch not in " -")
    cleaned = cleaned.replace("O", "0").replace("I", "1").replace("L", "1")
    if len(cleaned) != _CODE_CHARS or any(ch not in _ALPHABET for ch in cleaned):
        raise InputError("a link code has 16 letters and digits, as shown on the new device (XXXX-XXXX-XXXX-XXXX)")
    return "-".join(cleaned[i:i + 4] for i in range(0, _CODE_CHARS, 4))


def _derive(code: str, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(
        normalize_link_code(code).encode())


def link_slot(code: str) -> str:
    """The relay mailbox of this code (hex; tells nothing of the code)."""
    return _derive(code, b"parley device link slot v1").hex()


def link_mac(code: str, label: str, data: bytes) -> str:
    """HMAC-SHA256 (hex) of ``data`` under the code's key, bound to ``label`` (which message it is)."""
    return hmac.new(_derive(code, b"parley device link mac v1"), label.encode() + b"\x00" + data, sha256).hexdigest()


def check_link_mac(code: str, label: str, data: bytes, mac: object) -> None:
    """Raises: VerificationError when ``mac`` is not that of ``data`` under this code."""
    if not isinstance(mac, str) or not hmac.compare_digest(link_mac(code, label, data), mac):
        raise VerificationError("the link exchange does not match the code: it was altered on the way "
                                "(or the code was mistyped)")
