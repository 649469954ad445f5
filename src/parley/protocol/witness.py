"""Witnessed checkpoints: every party's client cosigns the checkpoints it verified (C2SP
tlog-cosignature, Ed25519 cosignature/v1), and a checkpoint is *final* once the parties a policy
requires (every party, or k of n) cosigned it or a later checkpoint consistent with it.

Pure: the caller supplies the checkpoint bodies it verified itself (``body_at(size)``, from its own
copy of the log) and the cosignature lines the relay served. A cosignature counts only if it
verifies over the body *this* verifier holds for that size, so a relay that showed another party
another history can never make that party's cosignature count here.

A device cosigns with its Ed25519 device key under the name ``parley-witness/<device key id>``.
The cosignature/v1 message begins ``cosignature/v1\\n``: it can never be mistaken for the other
things a device key signs (event headers are JSON objects, HTTP signature bases start with a quote).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from parley.errors import InputError, NotWitnessedError
from parley.protocol.identity import MemberCertificate
from parley.tlog.cosignature import Cosigner, cosigned_by

WITNESS_PREFIX = "parley-witness/"
ALL = "all"


def witness_name(device_key_id: str) -> str:
    """The cosigner name of a member device."""
    return WITNESS_PREFIX + device_key_id


def device_cosigner(certificate: MemberCertificate) -> Cosigner:
    """The cosigner identity of a member device (its certified Ed25519 signing key)."""
    return Cosigner(witness_name(certificate.device_key_id), base64.b64decode(certificate.signing_key))


def party_cosigners(certificates: Iterable[MemberCertificate], parties: Iterable[str]) -> dict[str, list[Cosigner]]:
    """Party id -> the cosigners of its member devices, for the ``parties`` that must witness."""
    wanted = {party: [] for party in parties}
    for certificate in certificates:
        if certificate.party_id in wanted:
            wanted[certificate.party_id].append(device_cosigner(certificate))
    return wanted


def required_count(quorum: str | int, parties: int) -> int:
    """How many distinct parties a policy needs: ``"all"`` or ``k`` (1 <= k <= parties).

    Raises:
        InputError: an empty policy (no parties), k below 1 or above the number of parties.
    """
    if parties < 1:
        raise InputError("a witness policy needs at least one party to witness")
    if quorum == ALL:
        return parties
    if isinstance(quorum, str):
        try:
            quorum = int(quorum)
        except ValueError:
            raise InputError(f"a witness quorum is 'all' or a number, not {quorum!r}") from None
    if isinstance(quorum, bool) or not 1 <= quorum <= parties:
        raise InputError(f"a witness quorum is between 1 and the {parties} parties, not {quorum}")
    return quorum


@dataclass(frozen=True)
class WitnessStatus:
    """How far a verified log of ``size`` entries is witnessed.

    ``witnessed``: party id -> the largest size it cosigned (over this verifier's own view, at most
    ``size``); ``final_size``: entries below it are cosigned by at least ``required`` parties;
    ``final``: the whole verified log is.
    """

    size: int
    required: int
    parties: tuple[str, ...]
    witnessed: Mapping[str, int] = field(default_factory=dict)

    @property
    def final_size(self) -> int:
        sizes = sorted((self.witnessed.get(p, 0) for p in self.parties), reverse=True)
        return sizes[self.required - 1] if len(sizes) >= self.required else 0

    @property
    def final(self) -> bool:
        return self.size > 0 and self.final_size >= self.size

    @property
    def missing(self) -> list[str]:
        """Parties that have not cosigned the whole verified log."""
        return [p for p in self.parties if self.witnessed.get(p, 0) < self.size]


def witness_status(size: int, body_at: Callable[[int], str], rows: Iterable[tuple[int, str]],
                   cosigners: Mapping[str, Iterable[Cosigner]], quorum: str | int = ALL) -> WitnessStatus:
    """Evaluate served cosignature ``rows`` (size, line) against this verifier's own view.

    ``body_at(m)`` is the checkpoint body (origin, m, root) of the log this verifier verified, for
    any 1 <= m <= ``size``. Rows for sizes outside that range cannot be checked and are ignored.

    Raises:
        InputError: a bad quorum (see :func:`required_count`).
    """
    cosigners = {party: list(keys) for party, keys in cosigners.items()}
    required = required_count(quorum, len(cosigners))
    by_size: dict[int, list[str]] = {}
    for row_size, line in rows:
        if isinstance(row_size, int) and 1 <= row_size <= size and isinstance(line, str):
            by_size.setdefault(row_size, []).append(line)
    witnessed: dict[str, int] = {}
    for row_size in sorted(by_size, reverse=True):
        pending = {p: keys for p, keys in cosigners.items() if p not in witnessed}
        if not pending:
            break
        for party in cosigned_by(body_at(row_size), by_size[row_size], pending):
            witnessed[party] = row_size
    return WitnessStatus(size, required, tuple(sorted(cosigners)), witnessed)


def require_final(status: WitnessStatus, at_least: int | None = None) -> None:
    """Refuse to treat a checkpoint as final before the policy's parties cosigned it.

    ``at_least``: only the first ``at_least`` entries need to be final (default: all ``size``).

    Raises:
        NotWitnessedError: fewer than ``required`` parties cosigned that far.
    """
    needed = status.size if at_least is None else at_least
    if status.final_size >= needed and needed > 0:
        return
    raise NotWitnessedError(
        f"the log is cosigned by {sum(1 for p in status.parties if status.witnessed.get(p, 0) >= needed)} of "
        f"{len(status.parties)} parties up to size {needed}; the policy requires {status.required}",
        hint="a party cosigns with its next act or with 'parley witness cosign'; a relay that showed it another "
             "history can never collect its cosignature")
