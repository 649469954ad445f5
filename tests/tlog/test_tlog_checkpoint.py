"""C2SP checkpoints: strict parsing, signing, and the rollback / fork guard."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from parley.errors import (
    ForkError,
    InputError,
    RollbackError,
    SignatureError,
    VerificationError,
)
from parley.tlog import merkle
from parley.tlog.checkpoint import (
    Checkpoint,
    check_extension,
    checkpoint_origin,
    open_checkpoint,
    sign_checkpoint,
)
from parley.tlog.note import Signer

ORIGIN = "relay.example/neg-42"
ROOT = bytes(range(32))
ROOT_B64 = base64.b64encode(ROOT).decode()


def build_log(size: int, prefix: bytes = b"event") -> merkle.MemoryNodeStore:
    store = merkle.MemoryNodeStore()
    store.put(merkle.append_many(0, [merkle.leaf_hash(prefix + bytes([i])) for i in range(size)], store))
    return store


def checkpoint_of(store: merkle.MemoryNodeStore, size: int) -> Checkpoint:
    return Checkpoint(ORIGIN, size, merkle.root_from_nodes(size, store))


@pytest.fixture(scope="module")
def relay() -> Signer:
    return Signer("relay.example", Ed25519PrivateKey.generate())


# ------------------------------------------------------------------------------------- the format


def test_text_round_trip_with_extensions() -> None:
    checkpoint = Checkpoint(ORIGIN, 12, ROOT, ("ext one", "ext-two"))
    assert checkpoint.to_text() == f"{ORIGIN}\n12\n{ROOT_B64}\next one\next-two\n"
    assert Checkpoint.parse(checkpoint.to_text()) == checkpoint


@pytest.mark.parametrize(
    "text",
    [
        f"{ORIGIN}\n12\n{ROOT_B64}",  # no final newline
        f"{ORIGIN}\n12\n",  # no root line
        f"\n12\n{ROOT_B64}\n",  # empty origin
        f"relay example\n12\n{ROOT_B64}\n",  # space in origin
        f"{ORIGIN}\n012\n{ROOT_B64}\n",  # leading zero
        f"{ORIGIN}\n+12\n{ROOT_B64}\n",  # sign
        f"{ORIGIN}\n-1\n{ROOT_B64}\n",  # negative
        f"{ORIGIN}\n1_2\n{ROOT_B64}\n",  # Python int() would accept this
        f"{ORIGIN}\n\u0661\u0662\n{ROOT_B64}\n",  # Arabic-Indic digits, also accepted by int()
        f"{ORIGIN}\n 12\n{ROOT_B64}\n",  # padding
        f"{ORIGIN}\n0x0c\n{ROOT_B64}\n",  # hex
        f"{ORIGIN}\n18446744073709551616\n{ROOT_B64}\n",  # 2^64
        f"{ORIGIN}\n12\n{base64.b64encode(ROOT[:31]).decode()}\n",  # short hash
        f"{ORIGIN}\n12\n{base64.b64encode(ROOT + b'x').decode()}\n",  # long hash
        f"{ORIGIN}\n12\n{ROOT_B64.rstrip('=')}\n",  # unpadded base64
        f"{ORIGIN}\n12\n{ROOT.hex()}\n",  # hex instead of base64
        f"{ORIGIN}\n12\n{ROOT_B64}\n\n",  # empty extension line
    ],
)
def test_parse_is_strict(text: str) -> None:
    with pytest.raises(VerificationError, match="malformed checkpoint"):
        Checkpoint.parse(text)


def test_largest_uint64_size_parses() -> None:
    assert Checkpoint.parse(f"{ORIGIN}\n18446744073709551615\n{ROOT_B64}\n").size == 2**64 - 1
    assert Checkpoint.parse(f"{ORIGIN}\n0\n{ROOT_B64}\n").size == 0


@pytest.mark.parametrize(
    "fields",
    [("", 1, ROOT), (ORIGIN, -1, ROOT), (ORIGIN, 1, ROOT[:31]), (ORIGIN, True, ROOT), ("a\nb", 1, ROOT)],
)
def test_invalid_fields_are_refused_at_construction(fields: tuple) -> None:
    with pytest.raises(InputError):
        Checkpoint(*fields)


def test_checkpoint_origin_convention() -> None:
    assert checkpoint_origin("relay.example", "neg-42") == ORIGIN
    for relay_name, negotiation_id in [("", "x"), ("relay", ""), ("re lay", "x"), ("relay", "a/b"), ("a+b", "x")]:
        with pytest.raises(InputError):
            checkpoint_origin(relay_name, negotiation_id)


# -------------------------------------------------------------------------------------- signing


def test_sign_and_open(relay: Signer) -> None:
    checkpoint = Checkpoint(ORIGIN, 3, ROOT)
    signed = sign_checkpoint(checkpoint, relay)
    assert signed.startswith(checkpoint.to_text() + "\n— relay.example ")
    assert open_checkpoint(signed, [relay.vkey()], ORIGIN) == checkpoint
    assert open_checkpoint(signed, [relay.vkey()], None) == checkpoint


def test_checkpoint_of_another_negotiation_is_refused(relay: Signer) -> None:
    signed = sign_checkpoint(Checkpoint("relay.example/neg-41", 3, ROOT), relay)
    with pytest.raises(VerificationError, match="expected"):
        open_checkpoint(signed, [relay.vkey()], ORIGIN)


def test_checkpoint_signed_by_another_key_is_refused(relay: Signer) -> None:
    impostor = Signer("relay.example", Ed25519PrivateKey.generate())
    signed = sign_checkpoint(Checkpoint(ORIGIN, 3, ROOT), impostor)
    with pytest.raises(SignatureError):
        open_checkpoint(signed, [relay.vkey()], ORIGIN)


def test_edited_checkpoint_size_is_refused(relay: Signer) -> None:
    signed = sign_checkpoint(Checkpoint(ORIGIN, 3, ROOT), relay)
    with pytest.raises(SignatureError):
        open_checkpoint(signed.replace("\n3\n", "\n4\n", 1), [relay.vkey()], ORIGIN)


def test_signed_garbage_is_a_verification_error(relay: Signer) -> None:
    from parley.tlog.note import sign_note

    with pytest.raises(VerificationError, match="malformed checkpoint"):
        open_checkpoint(sign_note("not a checkpoint\n", [relay]), [relay.vkey()], None)


# ------------------------------------------------------------------------------ rollback and fork


def test_honest_log_growth_is_accepted() -> None:
    store = build_log(20)
    pinned = None
    for size in (1, 2, 5, 5, 8, 13, 20):
        new = checkpoint_of(store, size)
        proof = merkle.consistency_proof(pinned.size, size, store) if pinned and pinned.size else []
        check_extension(pinned, new, proof)
        pinned = new


def test_first_checkpoint_is_trusted_on_first_use() -> None:
    check_extension(None, Checkpoint(ORIGIN, 9, ROOT), [])


def test_growth_from_empty_log_is_accepted() -> None:
    store = build_log(4)
    check_extension(Checkpoint(ORIGIN, 0, merkle.EMPTY_ROOT), checkpoint_of(store, 4), [])


def test_relay_rolls_back_tree_is_detected() -> None:
    store = build_log(10)
    with pytest.raises(RollbackError, match="rolled back"):
        check_extension(checkpoint_of(store, 10), checkpoint_of(store, 7), [])


def test_relay_forks_log_same_size_different_root_is_detected() -> None:
    honest, forked = build_log(10), build_log(10, prefix=b"rewritten")
    with pytest.raises(ForkError, match="two different histories"):
        check_extension(checkpoint_of(honest, 10), checkpoint_of(forked, 10), [])


def test_relay_rewrites_history_while_growing_is_detected() -> None:
    # The relay showed 6 honest entries, then serves 12 entries whose first 6 differ, with a
    # consistency proof that is valid for its rewritten log but cannot connect to the pinned root.
    honest, forked = build_log(6), build_log(12, prefix=b"rewritten")
    proof = merkle.consistency_proof(6, 12, forked)
    with pytest.raises(ForkError, match="not an extension of the one verified before"):
        check_extension(checkpoint_of(honest, 6), checkpoint_of(forked, 12), proof)


def test_relay_grows_log_without_a_valid_proof_is_detected() -> None:
    store = build_log(12)
    with pytest.raises(ForkError):
        check_extension(checkpoint_of(store, 6), checkpoint_of(store, 12), [])
    proof = merkle.consistency_proof(6, 12, store)
    with pytest.raises(ForkError):
        check_extension(checkpoint_of(store, 6), checkpoint_of(store, 12), proof[:-1] + [bytes(32)])


def test_pinned_empty_checkpoint_with_bogus_root_is_a_fork() -> None:
    with pytest.raises(ForkError):
        check_extension(Checkpoint(ORIGIN, 0, ROOT), Checkpoint(ORIGIN, 3, ROOT), [])


def test_relay_substitutes_another_negotiations_log_is_detected() -> None:
    store = build_log(8)
    other = Checkpoint("relay.example/neg-41", 8, merkle.root_from_nodes(8, store))
    with pytest.raises(VerificationError, match="cannot extend"):
        check_extension(checkpoint_of(store, 4), other, merkle.consistency_proof(4, 8, store))
