"""Property and edge-case tests of parley.tlog.merkle beyond the shared vectors."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parley.errors import InputError, ProofError, StorageError
from parley.tlog import merkle

MAX_SIZE = 300
# Leaves of a store only depend on earlier leaves, so one store of MAX_SIZE leaves serves every
# smaller tree size too: the nodes of a prefix never change when the log grows.
LEAF_INPUTS = [hashlib.sha256(f"leaf {i}".encode()).digest()[: 1 + i % 40] for i in range(MAX_SIZE)]
LEAF_HASHES = [merkle.leaf_hash(leaf) for leaf in LEAF_INPUTS]


@cache
def full_store() -> merkle.MemoryNodeStore:
    store = merkle.MemoryNodeStore()
    store.put(merkle.append_many(0, LEAF_HASHES, store))
    return store


@cache
def root_of(size: int) -> bytes:
    return merkle.root_hash(LEAF_INPUTS[:size])


class CountingReader:
    """Wraps a store and records every batch read, to check the one-query promise."""

    def __init__(self, inner: merkle.NodeReader) -> None:
        self.inner = inner
        self.calls: list[list[tuple[int, int]]] = []

    def get_nodes(self, keys: Sequence[tuple[int, int]]) -> Mapping[tuple[int, int], bytes]:
        self.calls.append(list(keys))
        return self.inner.get_nodes(keys)


def flip_bit(proof: list[bytes], element: int, bit: int) -> list[bytes]:
    changed = bytearray(proof[element])
    changed[bit // 8] ^= 1 << (bit % 8)
    return [*proof[:element], bytes(changed), *proof[element + 1 :]]


tree_sizes = st.integers(min_value=1, max_value=MAX_SIZE)


@st.composite
def size_and_index(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(tree_sizes)
    return size, draw(st.integers(min_value=0, max_value=size - 1))


@st.composite
def two_sizes(draw: st.DrawFn) -> tuple[int, int]:
    size2 = draw(st.integers(min_value=2, max_value=MAX_SIZE))
    return draw(st.integers(min_value=1, max_value=size2 - 1)), size2


# ------------------------------------------------------------------------------ roots and appends


def test_empty_tree_root_is_hash_of_empty_string() -> None:
    assert merkle.root_hash([]) == hashlib.sha256(b"").digest()
    assert merkle.root_from_nodes(0, merkle.MemoryNodeStore()) == merkle.EMPTY_ROOT


def test_nodes_for_root_are_the_perfect_subtrees_largest_first() -> None:
    assert merkle.nodes_for_root(7) == [(2, 0), (1, 2), (0, 6)]
    assert merkle.nodes_for_root(8) == [(3, 0)]
    assert merkle.nodes_for_root(0) == []


@given(st.integers(min_value=0, max_value=MAX_SIZE))
def test_root_from_nodes_equals_root_over_all_leaves(size: int) -> None:
    reader = CountingReader(full_store())
    assert merkle.root_from_nodes(size, reader) == root_of(size)
    assert len(reader.calls) == (1 if size else 0)
    assert len(reader.calls[0] if reader.calls else []) == bin(size).count("1")


@settings(max_examples=50)
@given(st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=8))
def test_append_many_equals_repeated_append_nodes(batch_sizes: list[int]) -> None:
    one_by_one, batched = merkle.MemoryNodeStore(), merkle.MemoryNodeStore()
    size = 0
    for batch in batch_sizes:
        hashes = LEAF_HASHES[size : size + batch]
        expected: list[merkle.Node] = []
        for offset, digest in enumerate(hashes):
            nodes = merkle.append_nodes(size + offset, digest, one_by_one)
            one_by_one.put(nodes)
            expected.extend(nodes)
        reader = CountingReader(batched)
        got = merkle.append_many(size, hashes, reader)
        assert got == expected
        assert len(reader.calls) <= 1
        batched.put(got)
        size += len(hashes)
        assert merkle.root_from_nodes(size, batched) == root_of(size)


@given(st.integers(min_value=0, max_value=MAX_SIZE - 1))
def test_append_reads_at_most_log_n_nodes_in_one_batch(size: int) -> None:
    reader = CountingReader(full_store())
    nodes = merkle.append_nodes(size, LEAF_HASHES[size], reader)
    assert nodes[0] == (0, size, LEAF_HASHES[size])
    assert len(reader.calls) <= 1
    assert sum(len(call) for call in reader.calls) <= size.bit_length()
    store_nodes = full_store().get_nodes([(level, index) for level, index, _ in nodes])
    assert {(level, index): digest for level, index, digest in nodes} == store_nodes


def test_append_rejects_a_leaf_hash_of_wrong_length() -> None:
    with pytest.raises(InputError):
        merkle.append_nodes(0, b"short", merkle.MemoryNodeStore())
    with pytest.raises(InputError):
        merkle.append_many(0, [LEAF_HASHES[0], b"x" * 31], merkle.MemoryNodeStore())


def test_missing_node_is_a_storage_error() -> None:
    with pytest.raises(StorageError, match="missing"):
        merkle.append_nodes(1, LEAF_HASHES[1], merkle.MemoryNodeStore())
    with pytest.raises(StorageError):
        merkle.inclusion_proof(0, 5, merkle.MemoryNodeStore())


# ------------------------------------------------------------------------------------- inclusion


@given(size_and_index())
def test_inclusion_proof_from_store_verifies_in_one_read(case: tuple[int, int]) -> None:
    size, index = case
    reader = CountingReader(full_store())
    proof = merkle.inclusion_proof(index, size, reader)
    assert len(reader.calls) == (1 if proof else 0)
    if reader.calls:
        assert sorted(set(reader.calls[0])) == sorted(set(merkle.nodes_for_inclusion(index, size)))
    merkle.verify_inclusion(LEAF_HASHES[index], index, size, proof, root_of(size))
    assert merkle.root_from_inclusion_proof(LEAF_HASHES[index], index, size, proof) == root_of(size)


@given(tree_sizes, st.data())
def test_inclusion_proofs_of_a_batch_equal_one_proof_per_leaf_in_one_read(size: int, data: st.DataObject) -> None:
    indexes = data.draw(st.lists(st.integers(min_value=0, max_value=size - 1), max_size=40))
    reader = CountingReader(full_store())
    proofs = merkle.inclusion_proofs(indexes, size, reader)
    assert proofs == [merkle.inclusion_proof(index, size, full_store()) for index in indexes]
    assert len(reader.calls) <= 1
    for index, proof in zip(indexes, proofs, strict=True):
        merkle.verify_inclusion(LEAF_HASHES[index], index, size, proof, root_of(size))


def test_inclusion_proofs_refuse_an_index_outside_the_tree() -> None:
    with pytest.raises(InputError, match="outside a tree"):
        merkle.inclusion_proofs([0, 5], 5, full_store())


@given(size_and_index(), st.data())
def test_inclusion_proof_with_any_bit_flipped_is_rejected(case: tuple[int, int], data: st.DataObject) -> None:
    size, index = case
    proof = merkle.inclusion_proof(index, size, full_store())
    target = data.draw(st.sampled_from(["leaf", "root", *range(len(proof))]))
    bit = data.draw(st.integers(min_value=0, max_value=255))
    leaf, root = LEAF_HASHES[index], root_of(size)
    if target == "leaf":
        leaf = flip_bit([leaf], 0, bit)[0]
    elif target == "root":
        root = flip_bit([root], 0, bit)[0]
    else:
        proof = flip_bit(proof, target, bit)
    with pytest.raises(ProofError):
        merkle.verify_inclusion(leaf, index, size, proof, root)


@given(size_and_index(), st.integers(min_value=-2, max_value=MAX_SIZE + 2))
def test_inclusion_proof_for_wrong_index_is_rejected(case: tuple[int, int], other: int) -> None:
    size, index = case
    if other == index:
        other = index + 1
    proof = merkle.inclusion_proof(index, size, full_store())
    with pytest.raises(ProofError):
        merkle.verify_inclusion(LEAF_HASHES[index], other, size, proof, root_of(size))


@given(size_and_index(), st.integers(min_value=0, max_value=MAX_SIZE))
def test_inclusion_proof_for_wrong_size_is_rejected(case: tuple[int, int], other: int) -> None:
    # The verifier takes size and root from the same signed checkpoint, so the attack to stop is a
    # proof made for one tree presented against another (size, root). Where the other tree's own
    # proof is identical, the proof is genuinely valid for it too (same path, same root).
    size, index = case
    if other == size:
        other = size + 1 if size < MAX_SIZE else size - 1
    proof = merkle.inclusion_proof(index, size, full_store())
    if index < other and proof == merkle.inclusion_proof(index, other, full_store()):
        return
    with pytest.raises(ProofError):
        merkle.verify_inclusion(LEAF_HASHES[index], index, other, proof, root_of(other))


@given(size_and_index(), st.sampled_from(["drop", "extra", "short-hash"]))
def test_inclusion_proof_of_wrong_shape_is_rejected(case: tuple[int, int], change: str) -> None:
    size, index = case
    proof = merkle.inclusion_proof(index, size, full_store())
    if change == "drop":
        if not proof:
            return
        proof = proof[:-1]
    elif change == "extra":
        proof = [*proof, root_of(size)]
    else:
        proof = [*proof, b""] if not proof else [proof[0][:31], *proof[1:]]
    with pytest.raises(ProofError):
        merkle.verify_inclusion(LEAF_HASHES[index], index, size, proof, root_of(size))


def test_inclusion_proof_rejects_index_outside_tree() -> None:
    with pytest.raises(InputError):
        merkle.inclusion_proof(5, 5, full_store())
    with pytest.raises(InputError):
        merkle.nodes_for_inclusion(-1, 5)
    with pytest.raises(ProofError, match="not inside"):
        merkle.verify_inclusion(LEAF_HASHES[0], 5, 5, [], root_of(5))
    with pytest.raises(ProofError, match="negative"):
        merkle.verify_inclusion(LEAF_HASHES[0], -1, 5, [], root_of(5))


# ----------------------------------------------------------------------------------- consistency


@given(two_sizes())
def test_consistency_proof_from_store_verifies_in_one_read(sizes: tuple[int, int]) -> None:
    size1, size2 = sizes
    reader = CountingReader(full_store())
    proof = merkle.consistency_proof(size1, size2, reader)
    assert len(reader.calls) == 1
    assert sorted(set(reader.calls[0])) == sorted(set(merkle.nodes_for_consistency(size1, size2)))
    merkle.verify_consistency(size1, size2, proof, root_of(size1), root_of(size2))


@given(two_sizes(), st.data())
def test_consistency_proof_with_any_bit_flipped_is_rejected(sizes: tuple[int, int], data: st.DataObject) -> None:
    size1, size2 = sizes
    proof = merkle.consistency_proof(size1, size2, full_store())
    target = data.draw(st.sampled_from(["root1", "root2", *range(len(proof))]))
    bit = data.draw(st.integers(min_value=0, max_value=255))
    root1, root2 = root_of(size1), root_of(size2)
    if target == "root1":
        root1 = flip_bit([root1], 0, bit)[0]
    elif target == "root2":
        root2 = flip_bit([root2], 0, bit)[0]
    else:
        proof = flip_bit(proof, target, bit)
    with pytest.raises(ProofError):
        merkle.verify_consistency(size1, size2, proof, root1, root2)


@given(two_sizes(), st.integers(min_value=0, max_value=MAX_SIZE), st.booleans())
def test_consistency_proof_for_wrong_sizes_is_rejected(sizes: tuple[int, int], other: int, move_old: bool) -> None:
    size1, size2 = sizes
    proof = merkle.consistency_proof(size1, size2, full_store())
    new1, new2 = (other, size2) if move_old else (size1, other)
    if (new1, new2) == (size1, size2):
        return
    if 0 < new1 < new2 and proof == merkle.consistency_proof(new1, new2, full_store()):
        return  # the same proof is genuinely valid for those trees too
    with pytest.raises(ProofError):
        merkle.verify_consistency(new1, new2, proof, root_of(new1), root_of(new2))


@given(two_sizes())
def test_consistency_with_swapped_roots_is_rejected(sizes: tuple[int, int]) -> None:
    size1, size2 = sizes
    proof = merkle.consistency_proof(size1, size2, full_store())
    with pytest.raises(ProofError):
        merkle.verify_consistency(size1, size2, proof, root_of(size2), root_of(size1))


def test_consistency_of_equal_sizes_needs_equal_roots_and_no_proof() -> None:
    assert merkle.consistency_proof(7, 7, full_store()) == []
    merkle.verify_consistency(7, 7, [], root_of(7), root_of(7))
    with pytest.raises(ProofError, match="different roots"):
        merkle.verify_consistency(7, 7, [], root_of(7), root_of(6))
    with pytest.raises(ProofError, match="empty consistency proof"):
        merkle.verify_consistency(7, 7, [root_of(7)], root_of(7), root_of(7))


def test_consistency_from_empty_tree_is_refused() -> None:
    with pytest.raises(InputError):
        merkle.consistency_proof(0, 5, full_store())
    with pytest.raises(ProofError, match="empty tree"):
        merkle.verify_consistency(0, 5, [], merkle.EMPTY_ROOT, root_of(5))


def test_consistency_rejects_shrinking_and_negative_sizes() -> None:
    with pytest.raises(InputError):
        merkle.consistency_proof(6, 5, full_store())
    with pytest.raises(ProofError, match="cannot extend"):
        merkle.verify_consistency(6, 5, [], root_of(6), root_of(5))
    with pytest.raises(ProofError, match="negative"):
        merkle.verify_consistency(-1, 5, [], root_of(1), root_of(5))


@pytest.mark.parametrize("bad", ["5", 5.0, None, True])
def test_verifiers_reject_non_integer_sizes(bad: object) -> None:
    with pytest.raises(ProofError, match="integers"):
        merkle.verify_inclusion(LEAF_HASHES[0], 0, bad, [], root_of(1))  # type: ignore[arg-type]
    with pytest.raises(ProofError, match="integers"):
        merkle.verify_consistency(1, bad, [], root_of(1), root_of(1))  # type: ignore[arg-type]
