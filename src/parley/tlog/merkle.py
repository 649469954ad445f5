"""RFC 9162 SHA-256 Merkle tree: hashing, append-only node storage, proofs and their verification.

Storage model: only hashes of *perfect* subtrees are stored. Node ``(level, index)`` is the hash
of leaves ``[index * 2**level, (index + 1) * 2**level)``; level 0 holds the leaf hashes. Any range
the RFC recursion needs (including non-perfect right edges) is a left-to-right run of perfect
subtrees, so its hash is a right fold of stored nodes. Every public operation first computes the
exact list of keys it needs and then reads them with ONE :meth:`NodeReader.get_nodes` call, so a
SQL-backed store answers an append or a proof with a single query.

Proofs are exactly those of RFC 9162 sections 2.1.3 (inclusion) and 2.1.4 (consistency).
The verifiers follow the transparency-dev test vectors where they are stricter than the RFC:
a consistency proof *from* an empty tree is rejected, since it proves nothing.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from parley.errors import InputError, ProofError, StorageError

HASH_SIZE = 32
#: RFC 9162: the hash of an empty tree is the hash of the empty string.
EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeKey = tuple[int, int]
"""``(level, index)`` of a perfect subtree."""
Node = tuple[int, int, bytes]
"""``(level, index, hash)``, as returned by the append functions for storing."""


# --------------------------------------------------------------------------------------- hashing


def leaf_hash(data: bytes) -> bytes:
    """Hash of a leaf input: ``SHA-256(0x00 || data)``."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Hash of an interior node: ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_hash(leaves: Sequence[bytes]) -> bytes:
    """Root of the tree over raw leaf inputs, straight from the RFC definition (a reference
    implementation, O(n) memory; the relay uses :func:`root_from_nodes`)."""
    hashes = [leaf_hash(leaf) for leaf in leaves]
    if not hashes:
        return EMPTY_ROOT

    def subtree(start: int, end: int) -> bytes:
        if end - start == 1:
            return hashes[start]
        split = start + _largest_power_of_two_below(end - start)
        return node_hash(subtree(start, split), subtree(split, end))

    return subtree(0, len(hashes))


# ---------------------------------------------------------------------------------- node storage


class NodeReader(Protocol):
    """Read access to stored perfect-subtree hashes."""

    def get_nodes(self, keys: Sequence[NodeKey]) -> Mapping[NodeKey, bytes]:
        """Return the stored hash of each key that exists; missing keys are simply absent."""
        ...


class MemoryNodeStore:
    """Dict-backed node store, for tests, benchmarks and clients that mirror a small log."""

    def __init__(self) -> None:
        self._nodes: dict[NodeKey, bytes] = {}

    def get_nodes(self, keys: Sequence[NodeKey]) -> Mapping[NodeKey, bytes]:
        nodes = self._nodes
        return {key: nodes[key] for key in keys if key in nodes}

    def put(self, nodes: Iterable[Node]) -> None:
        """Store ``(level, index, hash)`` triples (as returned by :func:`append_nodes`)."""
        for level, index, digest in nodes:
            self._nodes[(level, index)] = digest

    def __len__(self) -> int:
        return len(self._nodes)


def append_nodes(size: int, leaf_hash: bytes, reader: NodeReader) -> list[Node]:
    """Nodes to store when appending one leaf to a tree of ``size`` leaves.

    Returns the leaf node ``(0, size, leaf_hash)`` followed by every parent it completes, bottom up.
    Reads only the left siblings of those parents (one per trailing 1-bit of ``size``) in one batch.

    Raises:
        InputError: ``size`` is negative or ``leaf_hash`` is not 32 bytes.
        StorageError: the store lacks a node a tree of ``size`` leaves must have.
    """
    _check_size(size)
    _check_input_hash(leaf_hash)
    siblings = [(level, (size >> level) - 1) for level in range(_trailing_ones(size))]
    known = _fetch(reader, siblings)
    return _append_one(size, leaf_hash, known)


def append_many(size: int, leaf_hashes: Iterable[bytes], reader: NodeReader) -> list[Node]:
    """Like repeated :func:`append_nodes`, but with a single read for the whole batch.

    Every left sibling that a batch appended to a tree of ``size`` leaves needs is either one of
    the perfect subtrees making up the current root (read once up front) or a node computed earlier
    in this batch (kept in an in-memory overlay), so the store is never asked for a node twice.

    Raises:
        InputError: ``size`` is negative or a leaf hash is not 32 bytes.
        StorageError: the store lacks a node a tree of ``size`` leaves must have.
    """
    _check_size(size)
    overlay = dict(_fetch(reader, nodes_for_root(size)))
    new_nodes: list[Node] = []
    for offset, digest in enumerate(leaf_hashes):
        _check_input_hash(digest)
        added = _append_one(size + offset, digest, overlay)
        for level, index, node in added:
            overlay[(level, index)] = node
        new_nodes.extend(added)
    return new_nodes


def _append_one(size: int, digest: bytes, known: Mapping[NodeKey, bytes]) -> list[Node]:
    added: list[Node] = [(0, size, digest)]
    level, index = 0, size
    # An odd index is a right child: appending it completes its parent.
    while index & 1:
        digest = node_hash(known[(level, index - 1)], digest)
        level, index = level + 1, index >> 1
        added.append((level, index, digest))
    return added


# ------------------------------------------------------------------------------- roots and proofs


def nodes_for_root(size: int) -> list[NodeKey]:
    """Keys of the perfect subtrees (largest first) whose right fold is the root of ``size`` leaves.

    Raises:
        InputError: ``size`` is negative.
    """
    _check_size(size)
    return _range_keys(0, size)


def root_from_nodes(size: int, reader: NodeReader) -> bytes:
    """Root hash of the first ``size`` leaves, from at most log2(size) stored nodes.

    Raises:
        InputError: ``size`` is negative.
        StorageError: a needed node is missing.
    """
    keys = nodes_for_root(size)
    if not keys:
        return EMPTY_ROOT
    return _fold(keys, _fetch(reader, keys))


def nodes_for_inclusion(index: int, size: int) -> list[NodeKey]:
    """Every node key :func:`inclusion_proof` reads for leaf ``index`` in a tree of ``size``.

    Raises:
        InputError: not ``0 <= index < size``.
    """
    return _keys_for_ranges(_inclusion_ranges(index, size))


def inclusion_proof(index: int, size: int, reader: NodeReader) -> list[bytes]:
    """RFC 9162 inclusion proof (audit path) of leaf ``index`` in the tree of ``size`` leaves.

    Raises:
        InputError: not ``0 <= index < size``.
        StorageError: a needed node is missing.
    """
    return _hash_ranges(_inclusion_ranges(index, size), reader)


def inclusion_proofs(indexes: Sequence[int], size: int, reader: NodeReader) -> list[list[bytes]]:
    """``inclusion_proof(index, size, reader)`` for each of ``indexes``, with one read of the nodes and
    each subtree hash computed once: the leaves of one batch share most of their audit paths (every
    range right of the batch, and the batch's own subtrees).

    Raises:
        InputError: an index not in ``0 <= index < size``.
        StorageError: a needed node is missing.
    """
    per_leaf = [_inclusion_ranges(index, size) for index in indexes]
    keys_of = {bounds: _range_keys(*bounds) for bounds in dict.fromkeys(b for ranges in per_leaf for b in ranges)}
    nodes = _fetch(reader, [key for keys in keys_of.values() for key in keys])
    hashes = {bounds: _fold(keys, nodes) for bounds, keys in keys_of.items()}
    return [[hashes[bounds] for bounds in ranges] for ranges in per_leaf]


def nodes_for_consistency(size1: int, size2: int) -> list[NodeKey]:
    """Every node key :func:`consistency_proof` reads.

    Raises:
        InputError: not ``0 < size1 <= size2``.
    """
    return _keys_for_ranges(_consistency_ranges(size1, size2))


def consistency_proof(size1: int, size2: int, reader: NodeReader) -> list[bytes]:
    """RFC 9162 consistency proof between the trees of ``size1`` and ``size2`` leaves.

    Raises:
        InputError: not ``0 < size1 <= size2`` (nothing is proven from an empty tree).
        StorageError: a needed node is missing.
    """
    return _hash_ranges(_consistency_ranges(size1, size2), reader)


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """Leaf ranges whose hashes form PATH(index, D[0:size]), leaf end first (RFC 9162 2.1.3.1)."""
    _check_size(size)
    if not 0 <= index < size:
        raise InputError(f"leaf index {index} is outside a tree of {size} leaves")
    ranges: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        split = start + _largest_power_of_two_below(end - start)
        if index < split:
            ranges.append((split, end))
            end = split
        else:
            ranges.append((start, split))
            start = split
    ranges.reverse()  # collected root first; the proof lists the leaf's sibling first
    return ranges


def _consistency_ranges(size1: int, size2: int) -> list[tuple[int, int]]:
    """Leaf ranges whose hashes form PROOF(size1, D[0:size2]) (RFC 9162 2.1.4.1)."""
    _check_size(size2)
    if not 0 < size1 <= size2:
        raise InputError(f"consistency proof needs 0 < size1 <= size2, got {size1} and {size2}")
    ranges: list[tuple[int, int]] = []
    start, end = 0, size2
    # True while the old tree is a left-edge subtree of the current range (SUBPROOF's flag b).
    old_root_is_known = True
    while size1 != end:
        split = start + _largest_power_of_two_below(end - start)
        if size1 <= split:
            ranges.append((split, end))
            end = split
        else:
            ranges.append((start, split))
            start = split
            old_root_is_known = False
    if not old_root_is_known:
        ranges.append((start, end))
    ranges.reverse()
    return ranges


def _range_keys(start: int, end: int) -> list[NodeKey]:
    """Perfect subtrees covering leaves [start, end), left to right.

    Valid for every range the RFC recursion produces, because such a range starts at a multiple
    of a power of two at least as large as the range itself.
    """
    keys: list[NodeKey] = []
    width, cursor = end - start, start
    for level in range(width.bit_length() - 1, -1, -1):
        if width >> level & 1:
            keys.append((level, cursor >> level))
            cursor += 1 << level
    return keys


def _keys_for_ranges(ranges: Sequence[tuple[int, int]]) -> list[NodeKey]:
    return [key for start, end in ranges for key in _range_keys(start, end)]


def _hash_ranges(ranges: Sequence[tuple[int, int]], reader: NodeReader) -> list[bytes]:
    per_range = [_range_keys(start, end) for start, end in ranges]
    nodes = _fetch(reader, [key for keys in per_range for key in keys])
    return [_fold(keys, nodes) for keys in per_range]


def _fold(keys: Sequence[NodeKey], nodes: Mapping[NodeKey, bytes]) -> bytes:
    # Splits fall at powers of two, so a run of decreasing perfect subtrees nests to the right.
    digest = nodes[keys[-1]]
    for key in reversed(keys[:-1]):
        digest = node_hash(nodes[key], digest)
    return digest


def _fetch(reader: NodeReader, keys: Sequence[NodeKey]) -> Mapping[NodeKey, bytes]:
    if not keys:
        return {}
    unique = list(dict.fromkeys(keys))
    nodes = reader.get_nodes(unique)
    for key in unique:
        digest = nodes.get(key)
        if digest is None:
            raise StorageError(f"Merkle node {key} (level, index) is missing from the node store")
        if len(digest) != HASH_SIZE:
            raise StorageError(f"Merkle node {key} in the node store is {len(digest)} bytes, not {HASH_SIZE}")
    return nodes


# ------------------------------------------------------------------------------------- verifiers


def root_from_inclusion_proof(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """Root implied by an inclusion proof (RFC 9162 2.1.3.2); the caller compares it.

    Raises:
        ProofError: bad hash lengths, ``index`` outside the tree, or a proof of the wrong length.
    """
    _require_hash(leaf_hash, "leaf hash")
    _require_ints(index, size)
    if size < 0 or index < 0:
        raise ProofError(f"negative leaf index or tree size ({index}, {size})")
    if index >= size:
        raise ProofError(f"leaf index {index} is not inside a tree of {size} leaves")
    expected = len(_inclusion_ranges(index, size))
    if len(proof) != expected:
        raise ProofError(
            f"inclusion proof for leaf {index} of {size} must have {expected} hashes, it has {len(proof)}"
        )
    for position, element in enumerate(proof):
        _require_hash(element, f"inclusion proof hash #{position}")
    fn, sn, digest = index, size - 1, leaf_hash
    for element in proof:
        if fn & 1 or fn == sn:
            digest = node_hash(element, digest)
            # On the right edge, skip the levels where this node has no sibling.
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            digest = node_hash(digest, element)
        fn, sn = fn >> 1, sn >> 1
    return digest


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` leaves with this ``root``.

    Raises:
        ProofError: on any malformed input or if the proof does not lead to ``root``.
    """
    _require_hash(root, "root hash")
    computed = root_from_inclusion_proof(leaf_hash, index, size, proof)
    if not hmac.compare_digest(computed, root):
        raise ProofError(f"inclusion proof for leaf {index} does not lead to the root of the tree of {size} leaves")


def verify_consistency(size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes) -> None:
    """Check that the tree (``size2``, ``root2``) extends the tree (``size1``, ``root1``).

    Equal sizes need an empty proof and equal roots. A proof from an empty tree is rejected: it
    would be vacuous, and a client never pins an empty tree.

    Raises:
        ProofError: sizes out of order or zero, bad hash lengths, wrong proof length, or mismatch.
    """
    _require_ints(size1, size2)
    if size1 < 0 or size2 < 0:
        raise ProofError(f"negative tree size ({size1}, {size2})")
    if size2 < size1:
        raise ProofError(f"tree of {size2} leaves cannot extend a tree of {size1} leaves")
    if size1 == 0:
        raise ProofError("a consistency proof from an empty tree proves nothing")
    if size1 == size2:
        if proof:
            raise ProofError(f"trees of equal size need an empty consistency proof, got {len(proof)} hashes")
        if not hmac.compare_digest(root1, root2):
            raise ProofError(f"two different roots for the same tree size {size1}")
        return
    _require_hash(root1, "old root hash")
    _require_hash(root2, "new root hash")
    expected = len(_consistency_ranges(size1, size2))
    if len(proof) != expected:
        raise ProofError(
            f"consistency proof {size1} -> {size2} must have {expected} hashes, it has {len(proof)}"
        )
    for position, element in enumerate(proof):
        _require_hash(element, f"consistency proof hash #{position}")

    # RFC 9162 2.1.4.2. When size1 is a power of two the old root is itself a node of the new tree
    # and the proof omits it.
    path = [root1, *proof] if size1 & (size1 - 1) == 0 else list(proof)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    old_digest = new_digest = path[0]
    for element in path[1:]:
        if fn & 1 or fn == sn:
            old_digest = node_hash(element, old_digest)
            new_digest = node_hash(element, new_digest)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            new_digest = node_hash(new_digest, element)
        fn, sn = fn >> 1, sn >> 1
    if not hmac.compare_digest(old_digest, root1):
        raise ProofError(f"consistency proof {size1} -> {size2} does not lead to the old root")
    if not hmac.compare_digest(new_digest, root2):
        raise ProofError(f"consistency proof {size1} -> {size2} does not lead to the new root")


# --------------------------------------------------------------------------------------- helpers


def _largest_power_of_two_below(n: int) -> int:
    """Largest power of two strictly smaller than ``n`` (n >= 2): the RFC's split point k."""
    return 1 << ((n - 1).bit_length() - 1)


def _trailing_ones(n: int) -> int:
    return (~n & (n + 1)).bit_length() - 1


def _check_size(size: int) -> None:
    if size < 0:
        raise InputError(f"tree size must not be negative, got {size}")


def _check_input_hash(digest: bytes) -> None:
    if not isinstance(digest, bytes) or len(digest) != HASH_SIZE:
        raise InputError(f"leaf hash must be {HASH_SIZE} bytes")


def _require_hash(digest: bytes, what: str) -> None:
    if not isinstance(digest, bytes | bytearray) or len(digest) != HASH_SIZE:
        size = len(digest) if isinstance(digest, bytes | bytearray) else type(digest).__name__
        raise ProofError(f"{what} must be {HASH_SIZE} bytes, got {size}")


def _require_ints(*values: int) -> None:
    # Sizes and indexes often come from JSON; a str or float must fail as a bad proof, not a TypeError.
    if not all(isinstance(value, int) and not isinstance(value, bool) for value in values):
        raise ProofError("tree sizes and leaf indexes must be integers")
