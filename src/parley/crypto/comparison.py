"""Private comparison of two integers (DGK with Veugen's sign trick) on Paillier encryption (``phe``).

The recipe behind ``parley zopa``: party A (the key holder) holds ``x``, party B holds ``y``, both
``BITS``-bit; they learn ``[x > y]`` as two XOR shares and nothing else (semi-honest model; see
docs/zopa.md for what a cheating party can do).

1. A makes a Paillier key and sends ``[x_i]``, its bits encrypted under that key.
2. B draws ``s`` in {-1, +1} and computes, for each bit position i (0 = least significant),
   ``[c_i] = [x_i] - y_i + s + 3 * sum_{j > i} [x_j XOR y_j]``,
   multiplies each by a fresh uniform ``r_i`` in Z_n^*, re-randomises and shuffles them, and keeps
   its share ``[s = +1]``.
3. A decrypts: its share is ``[some c_i = 0]``. With x != y, some ``c_i`` is zero exactly when the first
   differing bit has ``x_i - y_i = -s``; so ``[x > y] = share_A XOR share_B``. Each share alone is a
   uniform bit.

The callers never compare equal numbers: bounds are encoded as ``2v`` ("at least v") and ``2v + 1``
("at most v"), so an upper bound meets a lower bound exactly when ``2u + 1 > 2l``.

Only ``phe``'s public API is used: ``EncryptedNumber`` addition, multiplication by an
``EncodedNumber`` (a scalar anywhere in Z_n, so the blinding is uniform), ``obfuscate`` and
``raw_encrypt`` / ``raw_decrypt``. Wire integers are fixed-length big-endian bytes, base64.

Errors: :class:`InputError` for values out of range; :class:`ProtocolError` for a message that is
not what the protocol allows (wrong count, a ciphertext outside Z_{n^2}^*, a key of the wrong size).
"""

from __future__ import annotations

import base64
import math
import secrets
from dataclasses import dataclass

from phe import paillier
from phe.encoding import EncodedNumber

from parley.errors import InputError, ProtocolError

#: bits of a reservation value (0 .. 2^32 - 1)
VALUE_BITS = 32
#: bits compared: a bound ``2v`` or ``2v + 1`` of a 32-bit value
BITS = VALUE_BITS + 1
#: Paillier modulus size (about 112-bit security, as RSA-2048)
KEY_BITS = 2048
AT_LEAST, AT_MOST = "at-least", "at-most"
DIRECTIONS = (AT_LEAST, AT_MOST)


def encode_bound(value: int, direction: str) -> int:
    """``2v`` for "at least v", ``2v + 1`` for "at most v".

    Raises:
        InputError: a value outside [0, 2^32 - 1] or an unknown direction.
    """
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**VALUE_BITS:
        raise InputError(f"a reservation value is a whole number from 0 to {2**VALUE_BITS - 1}")
    if direction not in DIRECTIONS:
        raise InputError(f"a direction is one of {', '.join(DIRECTIONS)}")
    return 2 * value + (1 if direction == AT_MOST else 0)


# ---- keys and wire integers ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ComparisonKey:
    """A's Paillier key pair (the private part never leaves A's device)."""

    public: paillier.PaillierPublicKey
    private: paillier.PaillierPrivateKey

    @classmethod
    def generate(cls, bits: int = KEY_BITS) -> ComparisonKey:
        public, private = paillier.generate_paillier_keypair(n_length=bits)
        return cls(public, private)

    def to_secret(self) -> dict[str, str]:
        """The private key's primes, to keep sealed on A's device until the check ends."""
        return {"p": str(self.private.p), "q": str(self.private.q)}

    @classmethod
    def from_secret(cls, secret: dict[str, str]) -> ComparisonKey:
        p, q = int(secret["p"]), int(secret["q"])
        public = paillier.PaillierPublicKey(p * q)
        return cls(public, paillier.PaillierPrivateKey(public, p, q))

    def public_b64(self) -> str:
        return int_to_b64(self.public.n, KEY_BITS // 8)


def int_to_b64(value: int, length: int) -> str:
    return base64.b64encode(value.to_bytes(length, "big")).decode("ascii")


def b64_to_int(text: object, length: int, what: str) -> int:
    """Raises: ProtocolError unless ``text`` is base64 of exactly ``length`` bytes."""
    try:
        raw = base64.b64decode(text, validate=True) if isinstance(text, str) else b""
    except ValueError:
        raw = b""
    if len(raw) != length:
        raise ProtocolError(f"{what} must be {length} bytes of base64")
    return int.from_bytes(raw, "big")


def public_key_from_b64(text: object) -> paillier.PaillierPublicKey:
    """Raises: ProtocolError for a modulus that is not an odd number of exactly ``KEY_BITS`` bits."""
    n = b64_to_int(text, KEY_BITS // 8, "the comparison key")
    if n.bit_length() != KEY_BITS or n % 2 == 0:
        raise ProtocolError(f"the comparison key must be an odd {KEY_BITS}-bit modulus")
    return paillier.PaillierPublicKey(n)


def ciphertexts_to_b64(public: paillier.PaillierPublicKey, values: list[int]) -> list[str]:
    return [int_to_b64(value, KEY_BITS // 4) for value in values]


def ciphertexts_from_b64(public: paillier.PaillierPublicKey, items: object, count: int, what: str) -> list[int]:
    """Raises: ProtocolError unless ``items`` are ``count`` ciphertexts in Z_{n^2}^*."""
    if not isinstance(items, list) or len(items) != count:
        raise ProtocolError(f"{what} must be a list of {count} ciphertexts")
    values = [b64_to_int(item, KEY_BITS // 4, what) for item in items]
    for value in values:
        if not 0 < value < public.nsquare or math.gcd(value, public.n) != 1:
            raise ProtocolError(f"{what} holds a value that is not a Paillier ciphertext of this key")
    return values


# ---- the three steps -------------------------------------------------------------------------------------
def encrypt_bits(key: ComparisonKey, x: int) -> list[int]:
    """Step 1 (A): ``[x_i]`` for i = 0 .. BITS-1, least significant first.

    Raises:
        InputError: ``x`` does not fit in BITS bits.
    """
    _check_encoded(x)
    return [key.public.raw_encrypt((x >> i) & 1) for i in range(BITS)]


def blind_comparison(public: paillier.PaillierPublicKey, encrypted_bits: list[int], y: int) -> tuple[list[int], int]:
    """Step 2 (B): the blinded, shuffled ``[r_i c_i]`` and B's share ``[s = +1]``.

    Raises:
        InputError: ``y`` does not fit in BITS bits.
        ProtocolError: not BITS ciphertexts.
    """
    _check_encoded(y)
    if len(encrypted_bits) != BITS:
        raise ProtocolError(f"the comparison needs {BITS} encrypted bits")
    s = secrets.choice((-1, 1))
    xs = [paillier.EncryptedNumber(public, c, 0) for c in encrypted_bits]
    xors = []
    for i, x_i in enumerate(xs):
        xors.append(x_i if (y >> i) & 1 == 0 else x_i * -1 + 1)  # [x_i XOR y_i] with y_i known to B
    blinded = []
    running = public.encrypt(0)  # 3 * sum_{j > i} [x_j XOR y_j], built from the top bit down
    for i in reversed(range(BITS)):
        c_i = xs[i] + (s - ((y >> i) & 1)) + running
        r_i = _uniform_unit(public.n)
        term = c_i * EncodedNumber(public, r_i, 0)
        term.obfuscate()
        blinded.append(term.ciphertext(be_secure=True))
        running = running + xors[i] * 3
    secrets.SystemRandom().shuffle(blinded)
    return blinded, 1 if s == 1 else 0


def zero_share(key: ComparisonKey, blinded: list[int]) -> int:
    """Step 3 (A): ``1`` if any blinded value decrypts to zero, else ``0``.

    Raises:
        ProtocolError: not BITS values.
    """
    if len(blinded) != BITS:
        raise ProtocolError(f"the comparison answer must hold {BITS} values")
    return 1 if any(key.private.raw_decrypt(c) == 0 for c in blinded) else 0


def greater_than(share_a: int, share_b: int) -> bool:
    """``[x > y]`` from the two shares.

    Raises:
        ProtocolError: a share that is not 0 or 1.
    """
    if share_a not in (0, 1) or share_b not in (0, 1) or isinstance(share_a, bool) or isinstance(share_b, bool):
        raise ProtocolError("a comparison share is 0 or 1")
    return bool(share_a ^ share_b)


# ---- the optional split point (only when both parties agreed beforehand) ---------------------------------
def encrypt_value(key: ComparisonKey, value: int) -> int:
    """A's value, encrypted under its own key, for the split point."""
    return key.public.raw_encrypt(value)


def masked_sum(public: paillier.PaillierPublicKey, encrypted_value: int, value: int) -> tuple[int, int]:
    """B: ``[a + b + m]`` for a uniform mask ``m`` in Z_n (kept by B), and ``m``."""
    mask = secrets.randbelow(public.n)
    total = paillier.EncryptedNumber(public, encrypted_value, 0) + EncodedNumber(public, (value + mask) % public.n, 0)
    total.obfuscate()
    return total.ciphertext(be_secure=True), mask


def unmask_sum(key: ComparisonKey, masked: int, mask: int) -> int:
    """A: ``a + b`` from ``[a + b + m]`` and the mask B revealed.

    Raises:
        ProtocolError: a mask outside Z_n, or a sum that two 32-bit values cannot make.
    """
    if not isinstance(mask, int) or not 0 <= mask < key.public.n:
        raise ProtocolError("the split mask is not a number below the comparison key")
    total = (key.private.raw_decrypt(masked) - mask) % key.public.n
    if total >= 2 ** (VALUE_BITS + 1):
        raise ProtocolError("the unmasked sum is not the sum of two reservation values")
    return total


def _uniform_unit(n: int) -> int:
    while True:
        r = secrets.randbelow(n)
        if r and math.gcd(r, n) == 1:
            return r


def _check_encoded(value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**BITS:
        raise InputError(f"a compared value fits in {BITS} bits")
