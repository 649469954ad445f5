"""C2SP signed notes: the Go reference vectors, round trips, tampering and fuzzing."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from parley.errors import InputError, SignatureError, VerificationError
from parley.tlog import note
from parley.tlog.note import Signer, Verifier, new_signer_key, open_note, sign_note, vkey_for

# golang.org/x/mod/sumdb/note note_test.go (BSD-3-Clause): fixed keys and signatures.
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_SIG = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
ENOCH_SIG = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"
PETER_NOTE = TEXT + "\n" + PETER_SIG


def test_go_vector_signing_is_byte_identical() -> None:
    signer = Signer.from_skey(PETER_SKEY)
    assert signer.key_id.hex() == "c74f20a3"
    assert signer.vkey() == PETER_VKEY
    assert signer.skey() == PETER_SKEY
    assert sign_note(TEXT, [signer]) == PETER_NOTE


def test_go_vector_opens() -> None:
    assert open_note(PETER_NOTE, [PETER_VKEY]) == TEXT
    assert open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [PETER_VKEY, ENOCH_VKEY]) == TEXT
    assert open_note(TEXT + "\n" + ENOCH_SIG + PETER_SIG, [ENOCH_VKEY]) == TEXT


def test_signature_by_unknown_key_is_ignored() -> None:
    # Enoch's line is not among the trusted keys: it must neither help nor hurt.
    assert open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [PETER_VKEY]) == TEXT
    bogus = "— Stranger AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
    assert open_note(TEXT + "\n" + bogus + PETER_SIG, [PETER_VKEY]) == TEXT


def test_note_signed_only_by_unknown_keys_is_rejected() -> None:
    with pytest.raises(SignatureError, match="no signature by a trusted key"):
        open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [])
    _, other_vkey = new_signer_key("PeterNeumann")
    with pytest.raises(SignatureError):
        open_note(PETER_NOTE, [other_vkey])


def test_tampered_text_is_rejected() -> None:
    with pytest.raises(SignatureError, match="invalid note signature"):
        open_note(PETER_NOTE.replace("cryptography", "cryptographY"), [PETER_VKEY])


def test_tampered_signature_by_known_key_is_rejected() -> None:
    broken = TEXT + "\n" + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(SignatureError):
        open_note(broken, [PETER_VKEY])


def test_repeated_signatures_are_checked_once() -> None:
    assert open_note(TEXT + "\n" + PETER_SIG * 3 + ENOCH_SIG * 2, [PETER_VKEY]) == TEXT


@pytest.mark.parametrize(
    "message",
    [
        TEXT,
        TEXT + "\n",
        TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + TEXT + "\n" + PETER_SIG,
        TEXT + "\n" + "— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
        TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        TEXT + "\n" + PETER_SIG.replace("—", "--"),
        TEXT + "\n" + "— PeterNeumann\n",
        TEXT + "\n" + "— PeterNeumann AAAA\n",
        TEXT + "\n" + "— PeterNeumann not*base64\n",
        TEXT + "\n" + "— a+b x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
        TEXT + "\n" + PETER_SIG * 101,
        "\ud800" + PETER_NOTE,
    ],
    ids=[
        "no-signatures", "blank-line-only", "no-final-newline", "control-char", "name-with-space",
        "trailing-text-line", "ascii-dashes", "no-signature", "signature-too-short", "bad-base64",
        "name-with-plus", "over-100-signatures", "lone-surrogate",
    ],
)
def test_malformed_note_is_rejected(message: str) -> None:
    with pytest.raises(VerificationError, match="malformed note"):
        open_note(message, [PETER_VKEY])


def test_oversized_note_is_rejected_before_parsing() -> None:
    with pytest.raises(VerificationError, match="malformed note"):
        open_note("a" * (note.MAX_NOTE_BYTES + 1) + "\n\n" + PETER_SIG, [PETER_VKEY])


def test_round_trip_with_two_signers() -> None:
    alice = Signer("relay.example/alice", Ed25519PrivateKey.generate())
    bob_skey, bob_vkey = new_signer_key("bob")
    bob = Signer.from_skey(bob_skey)
    signed = sign_note("hello\nworld\n", [alice, bob])
    assert open_note(signed, [alice.vkey()]) == "hello\nworld\n"
    assert open_note(signed, [bob_vkey]) == "hello\nworld\n"
    assert open_note(signed, [Verifier.from_vkey(bob_vkey), alice.vkey()]) == "hello\nworld\n"
    assert vkey_for("bob", bob.public_key) == bob_vkey


@pytest.mark.parametrize("text", ["", "no newline", "blank\n\nline\n", "\nleading blank\n", "tab\there\n"])
def test_sign_rejects_text_that_would_not_round_trip(text: str) -> None:
    with pytest.raises(InputError):
        sign_note(text, [Signer.from_skey(PETER_SKEY)])


def test_sign_rejects_no_or_duplicate_signers() -> None:
    signer = Signer.from_skey(PETER_SKEY)
    with pytest.raises(InputError):
        sign_note(TEXT, [])
    with pytest.raises(InputError):
        sign_note(TEXT, [signer, signer])


@pytest.mark.parametrize("name", ["", "has space", "a+b", "tab\tname", "new\nline", "nbsp\u00a0name"])
def test_invalid_key_names_are_rejected(name: str) -> None:
    with pytest.raises(InputError):
        new_signer_key(name)
    with pytest.raises(InputError):
        Signer(name, Ed25519PrivateKey.generate())


def test_mangled_verifier_keys_are_rejected() -> None:
    # As in Go's TestNewVerifier: every proper substring and every single-byte change must fail.
    for start in range(len(PETER_VKEY)):
        for end in range(start + 1, len(PETER_VKEY) + 1):
            if (start, end) != (0, len(PETER_VKEY)):
                with pytest.raises(InputError):
                    Verifier.from_vkey(PETER_VKEY[start:end])
    for position in range(len(PETER_VKEY)):
        mangled = PETER_VKEY[:position] + chr(ord(PETER_VKEY[position]) + 1) + PETER_VKEY[position + 1 :]
        with pytest.raises(InputError):
            Verifier.from_vkey(mangled)


def test_mismatched_key_id_is_rejected() -> None:
    with pytest.raises(InputError, match="key id"):
        Verifier.from_vkey("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")
    with pytest.raises(InputError, match="key id"):
        Signer.from_skey(PETER_SKEY.replace("c74f20a3", "c74f20a4"))


def test_two_different_keys_with_same_name_and_id_are_ambiguous() -> None:
    impostor = Verifier.from_vkey(PETER_VKEY)
    impostor.raw_public_key = b"\x00" * 32  # simulates a key-id collision
    with pytest.raises(InputError, match="ambiguous"):
        open_note(PETER_NOTE, [PETER_VKEY, impostor])


def test_single_vkey_string_instead_of_list_is_an_input_error() -> None:
    with pytest.raises(InputError):
        open_note(PETER_NOTE, PETER_VKEY)


@given(st.text(max_size=400))
def test_open_note_on_arbitrary_text_only_raises_verification_errors(text: str) -> None:
    try:
        open_note(text, [PETER_VKEY])
    except VerificationError:
        pass


@given(st.integers(min_value=0, max_value=len(PETER_NOTE) - 1), st.text(max_size=3), st.integers(0, 3))
def test_open_note_on_mutated_note_only_raises_verification_errors(position: int, insert: str, delete: int) -> None:
    mutated = PETER_NOTE[:position] + insert + PETER_NOTE[position + delete :]
    try:
        assert open_note(mutated, [PETER_VKEY]) == TEXT  # only harmless edits may still verify
    except VerificationError:
        pass
