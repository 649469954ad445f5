"""Every transparency-dev Merkle vector in tests/vectors/merkle: accept wantErr=false, reject wantErr=true.

The vectors are copied unchanged into the repository (source and licence in tests/vectors/merkle/README.md
and LICENSE), so a clone anywhere runs them; PARLEY_VECTORS_DIR overrides the location. A missing folder
is a collection error, never a skip.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from parley.errors import ProofError
from parley.tlog import merkle

REPO_ROOT = Path(__file__).resolve().parents[2]


def _vectors_dir() -> Path:
    override = os.environ.get("PARLEY_VECTORS_DIR")
    candidates = [Path(override)] if override else []
    candidates.append(REPO_ROOT / "tests" / "vectors" / "merkle")
    for candidate in candidates:
        if (candidate / "roots.json").is_file():
            return candidate
    raise RuntimeError(
        "Merkle test vectors not found; looked in: "
        + ", ".join(str(c) for c in candidates)
        + " (set PARLEY_VECTORS_DIR to a folder of transparency-dev/merkle vectors)"
    )


VECTORS = _vectors_dir()
INCLUSION = sorted((VECTORS / "inclusion").rglob("*.json"))
CONSISTENCY = sorted((VECTORS / "consistency").rglob("*.json"))
ROOTS = json.loads((VECTORS / "roots.json").read_text())
LEAVES = [bytes.fromhex(leaf) for leaf in ROOTS["leaf_inputs_hex"]]


def _name(path: Path) -> str:
    return str(path.relative_to(VECTORS))


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value) if value else b""


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def test_generated_proofs_are_compared_against_the_vectors() -> None:
    assert len(_happy(INCLUSION, "treeSize", "root")) >= 5
    assert len(_happy(CONSISTENCY, "size2", "root2")) >= 5


def test_all_vector_folders_are_present() -> None:
    # A truncated copy of the vectors must fail loudly rather than silently test less.
    folders = {p.parent.relative_to(VECTORS).as_posix() for p in INCLUSION + CONSISTENCY}
    for expected in ["inclusion/0", "inclusion/4", "inclusion/additional/3", "inclusion/single-entry",
                     "consistency/0", "consistency/4", "consistency/additional"]:
        assert expected in folders
    assert len(INCLUSION) + len(CONSISTENCY) >= 190


@pytest.mark.parametrize("path", INCLUSION, ids=_name)
def test_inclusion_vector(path: Path) -> None:
    vector = _load(path)
    args = (
        _b64(vector["leafHash"]),
        vector["leafIdx"],
        vector["treeSize"],
        [_b64(p) for p in vector["proof"] or []],
        _b64(vector["root"]),
    )
    if vector["wantErr"]:
        with pytest.raises(ProofError):
            merkle.verify_inclusion(*args)
    else:
        merkle.verify_inclusion(*args)


@pytest.mark.parametrize("path", CONSISTENCY, ids=_name)
def test_consistency_vector(path: Path) -> None:
    vector = _load(path)
    args = (
        vector["size1"],
        vector["size2"],
        [_b64(p) for p in vector["proof"] or []],
        _b64(vector["root1"]),
        _b64(vector["root2"]),
    )
    if vector["wantErr"]:
        with pytest.raises(ProofError):
            merkle.verify_consistency(*args)
    else:
        merkle.verify_consistency(*args)


@pytest.mark.parametrize("size", range(len(ROOTS["root_by_size_hex"])))
def test_roots_json(size: int) -> None:
    expected = bytes.fromhex(ROOTS["root_by_size_hex"][size])
    assert merkle.root_hash(LEAVES[:size]) == expected
    store = merkle.MemoryNodeStore()
    store.put(merkle.append_many(0, [merkle.leaf_hash(leaf) for leaf in LEAVES[:size]], store))
    assert merkle.root_from_nodes(size, store) == expected


def _store_of_first(size: int) -> merkle.MemoryNodeStore:
    store = merkle.MemoryNodeStore()
    store.put(merkle.append_many(0, [merkle.leaf_hash(leaf) for leaf in LEAVES[:size]], store))
    return store


def _happy(paths: list[Path], size_key: str, root_key: str) -> list[Path]:
    """Accepted vectors built over the roots.json leaves (the others use made-up hashes)."""
    over_roots_leaves = []
    for path in paths:
        vector = _load(path)
        size = vector[size_key]
        if not vector["wantErr"] and size <= len(LEAVES) and _b64(vector[root_key]) == merkle.root_hash(LEAVES[:size]):
            over_roots_leaves.append(path)
    return over_roots_leaves


@pytest.mark.parametrize("path", _happy(INCLUSION, "treeSize", "root"), ids=_name)
def test_generated_inclusion_proof_equals_vector(path: Path) -> None:
    vector = _load(path)
    size = vector["treeSize"]
    proof = merkle.inclusion_proof(vector["leafIdx"], size, _store_of_first(size))
    assert proof == [_b64(p) for p in vector["proof"] or []]


@pytest.mark.parametrize("path", _happy(CONSISTENCY, "size2", "root2"), ids=_name)
def test_generated_consistency_proof_equals_vector(path: Path) -> None:
    vector = _load(path)
    size1, size2 = vector["size1"], vector["size2"]
    proof = merkle.consistency_proof(size1, size2, _store_of_first(size2))
    assert proof == [_b64(p) for p in vector["proof"] or []]
