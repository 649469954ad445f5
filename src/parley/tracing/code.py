"""Tardos fingerprinting code: length plan, Nuida bias, keyed codewords, symmetric score, threshold.

A codeword is a Python ``int`` whose bit ``i`` is the symbol at code position ``i``; the
per-recipient score is then a handful of XOR/AND/popcount operations on big ints, which is
why tracing among 1,000 recipients needs neither numpy nor a per-bit Python loop.

References:
  * G. Tardos, "Optimal probabilistic fingerprint codes", J. ACM 55(2), 2008.
  * B. Škorić, S. Katzenbeisser, M. U. Celik, "Symmetric Tardos fingerprinting codes for
    arbitrary alphabet sizes", Des. Codes Cryptogr. 46(2), 2008 (the symmetric score).
  * K. Nuida et al., "An improvement of discrete Tardos fingerprinting codes",
    Des. Codes Cryptogr. 52(3), 2009 (the discrete bias distributions used here).
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Callable
from dataclasses import dataclass

from parley.errors import InputError

#: Code-length constant in m = ceil(K * c^2 * ln(n / epsilon)); derivation in docs/tracing.md.
LENGTH_CONSTANT = 6.0

#: Nuida's discrete bias distributions, quantised to 8 bits so a codeword symbol is one byte
#: compared with a threshold.  Values are (threshold t, weight): the bias is p = t / 256.
#: c = 1, 2: p = 1/2.  c = 3 (and 4): p = (1 -+ 1/sqrt(3)) / 2 = 0.21132 / 0.78868, weight 1/2
#: each; 54/256 = 0.21094 is the closest 8-bit value.  Scores use the quantised p, so the
#: innocent score keeps mean 0 and variance 1 exactly.
BIAS_TABLES: dict[int, tuple[tuple[int, float], ...]] = {
    1: ((128, 1.0),),
    2: ((128, 1.0),),
    3: ((54, 0.5), (202, 0.5)),
}
MAX_COLLUDERS = max(BIAS_TABLES)

_DOMAIN = b"parley-tracing-v1"


@dataclass(frozen=True)
class CodeParams:
    """The plan of one code: who it is for and how long it is."""

    n_recipients: int
    epsilon: float
    max_colluders: int
    length: int

    @property
    def biases(self) -> tuple[float, ...]:
        return tuple(t / 256 for t, _ in BIAS_TABLES[self.max_colluders])


def plan_code(n_recipients: int, epsilon: float = 1e-6, max_colluders: int = 3) -> CodeParams:
    """Choose the code length m = ceil(K * c^2 * ln(n / epsilon)) with K = ``LENGTH_CONSTANT``.

    Raises InputError if n_recipients < 1, epsilon is not in (0, 1) or max_colluders is not 1..3.
    """
    if isinstance(n_recipients, bool) or not isinstance(n_recipients, int) or n_recipients < 1:
        raise InputError(f"n_recipients must be a positive integer, got {n_recipients!r}")
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not 0.0 < epsilon < 1.0:
        raise InputError(f"epsilon must be in (0, 1), got {epsilon!r}")
    if isinstance(max_colluders, bool) or max_colluders not in BIAS_TABLES:
        raise InputError(f"max_colluders must be 1..{MAX_COLLUDERS}, got {max_colluders!r}")
    length = math.ceil(LENGTH_CONSTANT * max_colluders**2 * math.log(n_recipients / epsilon))
    return CodeParams(n_recipients, float(epsilon), max_colluders, length)


def keyed_stream(key: bytes, label: bytes, data: bytes, size: int) -> bytes:
    """``size`` pseudo-random bytes, a PRF of (key, label, data).

    HMAC-SHA256 derives a subkey per label (domain separation); SHAKE-256 keyed by prefix then
    expands it (SHAKE has no length-extension weakness, so prefix keying is a sound PRF).
    """
    subkey = hmac.new(key, _DOMAIN + b"|" + label, hashlib.sha256).digest()
    return hashlib.shake_256(subkey + len(data).to_bytes(4, "big") + data).digest(size)


def _bit_table(threshold: int) -> bytes:
    # bytes.translate table: byte value v -> ASCII '1' if v < threshold else '0'
    return bytes(0x31 if v < threshold else 0x30 for v in range(256))


_TABLES = {t: _bit_table(t) for table in BIAS_TABLES.values() for t, _ in table}


def _bits_to_int(ascii_bits: bytes) -> int:
    # position 0 is the first byte; int() reads the first digit as the most significant bit
    return int(ascii_bits[::-1], 2) if ascii_bits else 0


class DocumentCode:
    """The keyed Tardos code of one canonical document: biases, layout order and codewords.

    Everything is derived from the secret key and the SHA-256 of the canonical text, so one key
    may serve several documents without their codewords being related.
    """

    def __init__(self, key: bytes, params: CodeParams, document_digest: bytes) -> None:
        self.key = key
        self.params = params
        self.digest = document_digest
        m = params.length
        table = BIAS_TABLES[params.max_colluders]
        # bias class of each position, chosen by a keyed byte against the cumulative weights
        choice = keyed_stream(key, b"bias", document_digest, m)
        cuts: list[int] = []
        acc = 0.0
        for _, weight in table:
            acc += weight
            cuts.append(round(acc * 256))
        classes = bytearray(m)
        for i, byte in enumerate(choice):
            k = 0
            while byte >= cuts[k]:
                k += 1
            classes[i] = k
        self.thresholds = [t for t, _ in table]
        #: bit mask of the positions of each bias class
        self.class_masks = [
            _bits_to_int(bytes(classes).translate(bytes(0x31 if v == k else 0x30 for v in range(256))))
            for k in range(len(table))
        ]
        # keyed permutation of the code positions: sort by a keyed 64-bit value (a PRF ordering)
        order = keyed_stream(key, b"layout", document_digest, 8 * m)
        self.permutation = sorted(range(m), key=lambda i: order[8 * i : 8 * i + 8])

    def codeword(self, recipient: str) -> int:
        """Recipient's codeword: bit i ~ Bernoulli(p_i), drawn from the keyed stream."""
        raw = keyed_stream(self.key, b"codeword", self.digest + recipient.encode("utf-8"), self.params.length)
        word = 0
        for threshold, mask in zip(self.thresholds, self.class_masks, strict=True):
            word |= _bits_to_int(raw.translate(_TABLES[threshold])) & mask
        return word

    def scorer(self, observed: int, read_mask: int) -> Scorer:
        return Scorer(self, observed, read_mask)


class Scorer:
    """Symmetric Tardos score of codewords against one pirate sequence.

    At a read position with bias p: if the observed symbol y is 1, a codeword symbol 1 scores
    +sqrt((1-p)/p) and 0 scores -sqrt(p/(1-p)); for y = 0 the roles of p and 1-p swap.  Erased
    positions score 0.  The score is then sum over classes of
    w_match * (size - d) + w_mismatch * d with d = popcount((X xor y) & class_mask).
    """

    def __init__(self, code: DocumentCode, observed: int, read_mask: int) -> None:
        self.observed = observed
        self.read_mask = read_mask
        self.classes: list[tuple[int, int, float, float]] = []
        #: per class: (positions, probability that an innocent's symbol matches the observed one, w_match,
        #: w_mis) -- the exact law of an innocent's score given this reading (see ``log_mgf``)
        self._laws: list[tuple[int, float, float, float]] = []
        for threshold, mask in zip(code.thresholds, code.class_masks, strict=True):
            p = threshold / 256
            heavy, light = math.sqrt((1 - p) / p), math.sqrt(p / (1 - p))
            for y, w_match, w_mis in ((1, heavy, -light), (0, light, -heavy)):
                m = mask & read_mask & (observed if y else ~observed)
                if m:
                    self.classes.append((m, m.bit_count(), w_match, w_mis))
                    self._laws.append((m.bit_count(), p if y else 1 - p, w_match, w_mis))

    @property
    def symbols(self) -> int:
        return self.read_mask.bit_count()

    def score(self, codeword: int) -> float:
        diff = codeword ^ self.observed
        total = 0.0
        for mask, size, w_match, w_mis in self.classes:
            d = (diff & mask).bit_count()
            total += w_match * (size - d) + w_mis * d
        return total

    def log_mgf(self, lam: float) -> float:
        """ln E[exp(lam * S)] of an innocent's score S against this reading, exactly.

        An innocent's codeword is drawn by the keyed generator independently of what the leakers produced
        (they hold other codewords), so given the reading (which positions, which symbol, which bias) its
        symbols are independent Bernoulli(p_i) and the law of S is known position by position: at a
        position read as y with bias p it matches y with probability p (y = 1) or 1 - p (y = 0).
        """
        total = 0.0
        for size, p_match, w_match, w_mis in self._laws:
            # log-sum-exp of p e^{lam w_match} + (1 - p) e^{lam w_mis}, w_match > w_mis
            total += size * (lam * w_match + math.log(p_match + (1 - p_match) * math.exp(lam * (w_mis - w_match))))
        return total


def _log_mgf(lam: float, biases: tuple[float, ...]) -> float:
    """ln of the largest per-position moment generating function E[exp(lam * S)] of an innocent.

    For bias p' = min(p, 1-p) the upper tail is heaviest when the pirate symbol is the rare one:
    S = +a with probability p', -1/a otherwise, a = sqrt((1-p')/p').  That MGF dominates the
    mirrored case for lam > 0 (sinh(x)/x increases), so it bounds every pirate strategy.
    """
    best = -math.inf
    for p in biases:
        q = min(p, 1 - p)
        a = math.sqrt((1 - q) / q)
        # log-sum-exp: ln(q e^{lam a} + (1-q) e^{-lam/a})
        value = lam * a + math.log(q + (1 - q) * math.exp(-lam * (a + 1 / a)))
        best = max(best, value)
    return best


def _golden_min(f: Callable[[float], float], lo: float, hi: float, iterations: int = 90) -> float:
    """Minimum of a quasi-convex f on [lo, hi] by golden-section search."""
    inv = (math.sqrt(5) - 1) / 2
    a, b = lo, hi
    c, d = b - inv * (b - a), a + inv * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(iterations):
        if fc <= fd:
            b, d, fd = d, c, fc
            c = b - inv * (b - a)
            fc = f(c)
        else:
            a, c, fc = c, d, fd
            d = a + inv * (b - a)
            fd = f(d)
    return min(fc, fd)


def _chernoff_threshold(log_mgf: Callable[[float], float], n_recipients: int, epsilon: float) -> float:
    """min over lam > 0 of (ln E[e^{lam S}] + ln(n / epsilon)) / lam: a score no innocent reaches with
    probability above epsilon / n. The objective is quasi-convex in lam, hence also in ln(lam), so golden
    section applies."""
    log_target = math.log(n_recipients / epsilon)
    return _golden_min(lambda u: (log_mgf(math.exp(u)) + log_target) / math.exp(u), -12.0, 6.0)


def _chernoff_bound(log_mgf: Callable[[float], float], score: float, n_recipients: int) -> float:
    """n * min over lam > 0 of e^{-lam s} E[e^{lam S}]: any of n innocents reaching ``score``, bounded."""
    exponent = _golden_min(lambda u: log_mgf(math.exp(u)) - math.exp(u) * score, -12.0, 6.0)
    return min(1.0, n_recipients * math.exp(min(exponent, 0.0)))


def threshold(symbols: int, n_recipients: int, epsilon: float, biases: tuple[float, ...]) -> float:
    """Accusation threshold Z with P(innocent score >= Z) <= epsilon / n (Chernoff bound).

    Z = min over lam > 0 of (L * ln M(lam) + ln(n / epsilon)) / lam, L = symbols read.  The
    union over n innocents then bounds the probability of any false accusation by epsilon.
    Returns inf when nothing was read.
    """
    if symbols <= 0:
        return math.inf
    return _chernoff_threshold(lambda lam: symbols * _log_mgf(lam, biases), n_recipients, epsilon)


def reading_threshold(scorer: Scorer, n_recipients: int, epsilon: float) -> float:
    """Accusation threshold Z for one reading: P(innocent score >= Z | this reading) <= epsilon / n.

    The Chernoff bound of ``threshold`` with the exact law of an innocent's score given the positions read,
    their symbols and their biases (``Scorer.log_mgf``) instead of the worst case at every position. It
    holds whatever the leakers did, since their output is independent of any innocent's codeword; it is
    never above ``threshold`` for the same number of symbols, and lower the more often the leak shows the
    common symbol of a position (the usual case: an innocent then gains little from a match).
    Returns inf when nothing was read.
    """
    if scorer.symbols <= 0:
        return math.inf
    return _chernoff_threshold(scorer.log_mgf, n_recipients, epsilon)


def reading_false_accusation_bound(scorer: Scorer, score: float, n_recipients: int) -> float:
    """Upper bound on the probability that any of n innocents reaches ``score`` against this reading."""
    if scorer.symbols <= 0:
        return 1.0
    return _chernoff_bound(scorer.log_mgf, score, n_recipients)


def false_accusation_bound(score: float, symbols: int, n_recipients: int, biases: tuple[float, ...]) -> float:
    """Upper bound on the probability that any of n innocents scores >= ``score``."""
    if symbols <= 0:
        return 1.0
    return _chernoff_bound(lambda lam: symbols * _log_mgf(lam, biases), score, n_recipients)
