"""C2SP tlog checkpoints (https://c2sp.org/tlog-checkpoint) and the client's rollback/fork guard.

A checkpoint is the text of a signed note::

    <origin>
    <tree size, decimal>
    <root hash, base64>
    [extension lines...]

Parley's origin is ``<relay name>/<negotiation id>``: one log per negotiation, so a checkpoint
can never be replayed into another negotiation.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass

from parley.errors import (
    ForkError,
    InputError,
    ProofError,
    RollbackError,
    VerificationError,
)
from parley.tlog.merkle import EMPTY_ROOT, HASH_SIZE, verify_consistency
from parley.tlog.note import Signer, Verifier, decode_base64_strict, open_note, sign_note

#: Tree sizes are uint64 in every C2SP implementation; a larger number is not a checkpoint.
MAX_TREE_SIZE = 2**64 - 1

_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Checkpoint:
    """A log's signed statement of its size and root hash.

    Raises (on construction):
        InputError: any field that would not survive :meth:`to_text` / :meth:`parse`.
    """

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        problem = _problem(self.origin, self.size, self.root, self.extensions)
        if problem:
            raise InputError(f"invalid checkpoint: {problem}")

    def to_text(self) -> str:
        """The checkpoint body: the text to sign, ending in a newline."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode("ascii"), *self.extensions]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Strictly parse a checkpoint body (the text of an opened note).

        Raises:
            VerificationError: anything malformed: missing lines, empty origin, a size with a sign,
                leading zeros or non-ASCII digits, a non-canonical or wrong-length root hash,
                empty extension lines.
        """
        if not isinstance(text, str) or not text.endswith("\n"):
            raise VerificationError("malformed checkpoint: must be text ending in a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise VerificationError("malformed checkpoint: needs origin, size and root hash lines")
        origin, size_line, root_line, *extensions = lines
        if not _DECIMAL.fullmatch(size_line) or len(size_line) > 20:
            raise VerificationError(f"malformed checkpoint: tree size {size_line[:40]!r} is not a plain decimal")
        root = decode_base64_strict(root_line)
        if root is None:
            raise VerificationError("malformed checkpoint: root hash is not canonical base64")
        size = int(size_line)
        problem = _problem(origin, size, root, tuple(extensions))
        if problem:
            raise VerificationError(f"malformed checkpoint: {problem}")
        return cls(origin, size, root, tuple(extensions))


def checkpoint_origin(relay_name: str, negotiation_id: str) -> str:
    """Parley's checkpoint origin for one negotiation's log.

    Raises:
        InputError: an empty part, whitespace, control characters or ``+`` in either part,
            or a ``/`` in the negotiation id (it would make the origin ambiguous).
    """
    for what, value in (("relay name", relay_name), ("negotiation id", negotiation_id)):
        if not isinstance(value, str) or not value or _has_space_plus_or_control(value):
            raise InputError(f"{what} {value!r} must be non-empty, without spaces, control characters or '+'")
    if "/" in negotiation_id:
        raise InputError(f"negotiation id {negotiation_id!r} must not contain '/'")
    return f"{relay_name}/{negotiation_id}"


def sign_checkpoint(checkpoint: Checkpoint, signer: Signer) -> str:
    """The checkpoint as a signed note.

    Raises:
        InputError: the note would break the signed-note rules (see :func:`sign_note`).
    """
    return sign_note(checkpoint.to_text(), [signer])


def open_checkpoint(
    note_text: str, vkeys: Sequence[str | Verifier], expected_origin: str | None
) -> Checkpoint:
    """Verify a signed checkpoint and parse it; check its origin when ``expected_origin`` is given.

    Raises:
        SignatureError: no valid signature by one of ``vkeys``.
        VerificationError: malformed note or checkpoint, or a different origin.
        InputError: malformed verifier keys.
    """
    checkpoint = Checkpoint.parse(open_note(note_text, vkeys))
    if expected_origin is not None and checkpoint.origin != expected_origin:
        raise VerificationError(
            f"checkpoint is for log {checkpoint.origin!r}, expected {expected_origin!r}",
            hint="the relay answered with another negotiation's log",
        )
    return checkpoint


def check_extension(old: Checkpoint | None, new: Checkpoint, consistency_proof: Sequence[bytes]) -> None:
    """Refuse a checkpoint that does not extend the last one verified for the same log.

    ``old`` is the client's pinned checkpoint (None on first contact: trust on first use), ``new``
    the one just received and verified, ``consistency_proof`` the relay's proof from ``old.size``
    to ``new.size`` (ignored when the sizes are equal).

    Raises:
        VerificationError: the checkpoints belong to different logs.
        RollbackError: ``new`` is smaller than ``old``: the relay went back in time.
        ForkError: same size with another root, or a proof that does not show ``new`` extends
            ``old``: the relay showed a history that is not an extension of the one verified before.
    """
    if old is None:
        return
    if new.origin != old.origin:
        raise VerificationError(f"checkpoint for log {new.origin!r} cannot extend one for {old.origin!r}")
    if new.size < old.size:
        raise RollbackError(
            f"relay rolled back log {new.origin!r} from {old.size} to {new.size} entries",
            hint="the relay is hiding entries it already showed you; keep the receipts",
        )
    if new.size == old.size:
        if new.root != old.root:
            raise ForkError(
                f"relay showed two different histories of log {new.origin!r} at size {new.size}",
                hint="keep both signed checkpoints: together they prove the relay misbehaved",
            )
        return
    if old.size == 0:
        # Anything extends the empty tree, provided the pinned checkpoint really was empty.
        if old.root != EMPTY_ROOT:
            raise ForkError(f"pinned checkpoint of log {old.origin!r} claims size 0 with a non-empty root")
        return
    try:
        verify_consistency(old.size, new.size, consistency_proof, old.root, new.root)
    except ProofError as err:
        raise ForkError(
            f"relay showed a history of log {new.origin!r} that is not an extension of the one verified "
            f"before (size {old.size} -> {new.size}): {err.message}",
            hint="keep both signed checkpoints: together they prove the relay misbehaved",
        ) from err


def _problem(origin: str, size: int, root: bytes, extensions: tuple[str, ...]) -> str | None:
    """What makes these fields an invalid checkpoint, or None."""
    if not isinstance(origin, str) or not origin:
        return "origin must be non-empty text"
    if _has_space_plus_or_control(origin):
        return f"origin {origin[:80]!r} must not contain spaces, control characters or '+'"
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_TREE_SIZE:
        return f"tree size must be an integer in [0, 2^64-1], got {size!r}"
    if not isinstance(root, bytes) or len(root) != HASH_SIZE:
        return f"root hash must be {HASH_SIZE} bytes"
    if not isinstance(extensions, tuple):
        return "extensions must be a tuple of lines"
    for line in extensions:
        if not isinstance(line, str) or not line or "\n" in line or _CONTROL.search(line):
            return "extension lines must be non-empty single lines without control characters"
    return None


def _has_space_plus_or_control(value: str) -> bool:
    return "+" in value or _CONTROL.search(value) is not None or any(ch.isspace() for ch in value)
