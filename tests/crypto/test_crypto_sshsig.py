"""SSHSIG: round trip, rejection of tampering, and interop with the real ssh-keygen."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_ssh_public_key,
)

from parley.crypto.sshsig import (
    AGREEMENT_NAMESPACE,
    allowed_signers_line,
    public_key_from_signature,
    ssh_public_key_line,
    sshsig_sign,
    sshsig_verify,
)
from parley.errors import InputError, SignatureError

SSH_KEYGEN = shutil.which("ssh-keygen")
needs_ssh_keygen = pytest.mark.skipif(SSH_KEYGEN is None, reason="ssh-keygen (openssh-client) not installed")

MESSAGE = b"I agree to the terms, version 1.\n"


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def _raw(pub: Ed25519PublicKey) -> bytes:
    return pub.public_bytes(Encoding.Raw, PublicFormat.Raw)


def test_round_trip(key: Ed25519PrivateKey) -> None:
    armored = sshsig_sign(key, MESSAGE, AGREEMENT_NAMESPACE)
    assert armored.startswith("-----BEGIN SSH SIGNATURE-----\n")
    assert armored.endswith("-----END SSH SIGNATURE-----\n")
    assert all(len(line) <= 70 for line in armored.splitlines())
    sshsig_verify(armored, MESSAGE, AGREEMENT_NAMESPACE, key.public_key())
    assert _raw(public_key_from_signature(armored)) == _raw(key.public_key())


def test_signature_for_another_namespace_is_rejected(key: Ed25519PrivateKey) -> None:
    armored = sshsig_sign(key, MESSAGE, "file")
    with pytest.raises(SignatureError) as err:
        sshsig_verify(armored, MESSAGE, AGREEMENT_NAMESPACE, key.public_key())
    assert str(err.value) == "SSH signature did not verify"


def test_signature_over_modified_message_is_rejected(key: Ed25519PrivateKey) -> None:
    armored = sshsig_sign(key, MESSAGE, AGREEMENT_NAMESPACE)
    with pytest.raises(SignatureError):
        sshsig_verify(armored, MESSAGE + b" and more", AGREEMENT_NAMESPACE, key.public_key())


def test_signature_by_another_key_is_rejected(key: Ed25519PrivateKey) -> None:
    armored = sshsig_sign(Ed25519PrivateKey.generate(), MESSAGE, AGREEMENT_NAMESPACE)
    with pytest.raises(SignatureError):
        sshsig_verify(armored, MESSAGE, AGREEMENT_NAMESPACE, key.public_key())


def test_signature_with_swapped_embedded_key_is_rejected(key: Ed25519PrivateKey) -> None:
    # An attacker re-signs with their own key but the verifier pins the real one.
    mallory = Ed25519PrivateKey.generate()
    armored = sshsig_sign(mallory, MESSAGE, AGREEMENT_NAMESPACE)
    with pytest.raises(SignatureError):
        sshsig_verify(armored, MESSAGE, AGREEMENT_NAMESPACE, key.public_key())


@pytest.mark.parametrize(
    "armored",
    [
        "",
        "not a signature",
        "-----BEGIN SSH SIGNATURE-----\n!!!!\n-----END SSH SIGNATURE-----\n",
        "-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n",
    ],
)
def test_malformed_signature_is_rejected(key: Ed25519PrivateKey, armored: str) -> None:
    with pytest.raises(SignatureError):
        sshsig_verify(armored, MESSAGE, AGREEMENT_NAMESPACE, key.public_key())
    with pytest.raises(SignatureError):
        public_key_from_signature(armored)


def test_truncated_signature_is_rejected(key: Ed25519PrivateKey) -> None:
    lines = sshsig_sign(key, MESSAGE, AGREEMENT_NAMESPACE).splitlines()
    truncated = "\n".join([lines[0], *lines[1:-2], lines[-1]])
    with pytest.raises(SignatureError):
        sshsig_verify(truncated, MESSAGE, AGREEMENT_NAMESPACE, key.public_key())


def test_empty_namespace_is_refused(key: Ed25519PrivateKey) -> None:
    with pytest.raises(InputError):
        sshsig_sign(key, MESSAGE, "")


def test_public_key_and_allowed_signers_lines(key: Ed25519PrivateKey) -> None:
    line = ssh_public_key_line(key.public_key(), "alice@laptop")
    assert line.startswith("ssh-ed25519 AAAA") and line.endswith(" alice@laptop")
    assert _raw(load_ssh_public_key(line.encode())) == _raw(key.public_key())  # type: ignore[arg-type]
    signers = allowed_signers_line("alice@example.org", key.public_key(), AGREEMENT_NAMESPACE)
    assert signers == f'alice@example.org namespaces="{AGREEMENT_NAMESPACE}" {ssh_public_key_line(key.public_key())}'
    for bad in ("", "two words", "a,b", "*", 'q"uote'):
        with pytest.raises(InputError):
            allowed_signers_line(bad, key.public_key(), AGREEMENT_NAMESPACE)
    with pytest.raises(InputError):
        ssh_public_key_line(key.public_key(), "line\nbreak")


# --- interop with OpenSSH -------------------------------------------------------------------------


def _ssh_keygen(*args: str, cwd: Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    assert SSH_KEYGEN is not None
    return subprocess.run([SSH_KEYGEN, *args], cwd=cwd, input=stdin, capture_output=True, timeout=30, check=False)


def _verify_with_ssh_keygen(tmp_path: Path, key: Ed25519PublicKey, armored: str, message: bytes):
    (tmp_path / "allowed_signers").write_text(allowed_signers_line("alice@example.org", key, AGREEMENT_NAMESPACE) + "\n")
    (tmp_path / "agreement.sig").write_text(armored)
    return _ssh_keygen(
        "-Y", "verify", "-f", "allowed_signers", "-I", "alice@example.org", "-n", AGREEMENT_NAMESPACE,
        "-s", "agreement.sig", cwd=tmp_path, stdin=message,
    )


@needs_ssh_keygen
def test_parley_signature_verifies_with_ssh_keygen(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    armored = sshsig_sign(key, MESSAGE, AGREEMENT_NAMESPACE)
    result = _verify_with_ssh_keygen(tmp_path, key.public_key(), armored, MESSAGE)
    assert result.returncode == 0, result.stderr.decode()
    assert b"Good" in result.stdout


@needs_ssh_keygen
def test_ssh_keygen_rejects_parley_signature_over_modified_message(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    armored = sshsig_sign(key, MESSAGE, AGREEMENT_NAMESPACE)
    result = _verify_with_ssh_keygen(tmp_path, key.public_key(), armored, MESSAGE + b"!")
    assert result.returncode != 0


@needs_ssh_keygen
def test_ssh_keygen_rejects_parley_signature_for_another_namespace(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    armored = sshsig_sign(key, MESSAGE, "file")
    result = _verify_with_ssh_keygen(tmp_path, key.public_key(), armored, MESSAGE)
    assert result.returncode != 0


@needs_ssh_keygen
def test_ssh_keygen_signature_verifies_with_parley(tmp_path: Path) -> None:
    gen = _ssh_keygen("-q", "-t", "ed25519", "-N", "", "-C", "alice", "-f", "id_ed25519", cwd=tmp_path)
    assert gen.returncode == 0, gen.stderr.decode()
    (tmp_path / "agreement.txt").write_bytes(MESSAGE)
    sign = _ssh_keygen("-Y", "sign", "-f", "id_ed25519", "-n", AGREEMENT_NAMESPACE, "agreement.txt", cwd=tmp_path)
    assert sign.returncode == 0, sign.stderr.decode()
    armored = (tmp_path / "agreement.txt.sig").read_text()
    public_key = load_ssh_public_key((tmp_path / "id_ed25519.pub").read_bytes())
    assert isinstance(public_key, Ed25519PublicKey)

    sshsig_verify(armored, MESSAGE, AGREEMENT_NAMESPACE, public_key)
    assert _raw(public_key_from_signature(armored)) == _raw(public_key)
    with pytest.raises(SignatureError):
        sshsig_verify(armored, MESSAGE + b"!", AGREEMENT_NAMESPACE, public_key)


@needs_ssh_keygen
def test_parley_output_is_byte_identical_to_ssh_keygen(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    # Ed25519 is deterministic, so the same key must give the same armored text.
    key_file = tmp_path / "id_ed25519"
    key_file.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.OpenSSH, NoEncryption()))
    key_file.chmod(0o600)
    (tmp_path / "agreement.txt").write_bytes(MESSAGE)
    sign = _ssh_keygen("-Y", "sign", "-f", "id_ed25519", "-n", AGREEMENT_NAMESPACE, "agreement.txt", cwd=tmp_path)
    assert sign.returncode == 0, sign.stderr.decode()
    assert (tmp_path / "agreement.txt.sig").read_text() == sshsig_sign(key, MESSAGE, AGREEMENT_NAMESPACE)
