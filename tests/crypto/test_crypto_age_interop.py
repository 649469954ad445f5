"""A raw event ciphertext decrypts with the `age` command-line tool (Debian package `age`)
and the recipient's exported identity; and what `age` encrypts, parley opens.

The "exported identity" is the ``AGE-SECRET-KEY-1...`` string of the device's
``EncryptionKey``, one per line in ``identity.txt``: exactly what
``parley key export-identity --out identity.txt`` writes (see docs/interop.md, "age").

The keystore is also a standard age (scrypt) file, but ``age -d`` reads a
passphrase only from a terminal, so that half is not tested here.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from parley.crypto.keys import EncryptionKey, SigningKey, new_nonce
from parley.crypto.seal import open_sealed, seal
from parley.protocol.events import (
    Audience,
    CiphertextRef,
    Envelope,
    build_header,
    make_body,
    parse_body,
    sign_header,
)

AGE = shutil.which("age")


@pytest.fixture(scope="module")
def age() -> str:
    if AGE is None:
        message = ("the `age` command-line tool is not on PATH: install the Debian package `age` "
                   "(`make system-deps` runs scripts/system-deps.sh)")
        if os.environ.get("CI") or os.environ.get("PARLEY_REQUIRE_POSTGRES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return AGE


def _export_identity(path: Path, key: EncryptionKey, *, comments: bool = True) -> Path:
    """What `parley key export-identity --out identity.txt` writes: the identity line, mode 0600."""
    header = f"# parley device encryption identity\n# public key: {key.recipient}\n" if comments else ""
    path.write_text(f"{header}{key.identity}\n")
    path.chmod(0o600)
    return path


def _run(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(args, capture_output=True, timeout=30, check=False)


def _event(recipients: list[EncryptionKey]) -> tuple[Envelope, dict]:
    """A real encrypted event as the client builds it, with one ciphertext for all recipients."""
    author = SigningKey.generate()
    device_ids = sorted(SigningKey.generate().key_id for _ in recipients)
    header = build_header(nonce=new_nonce(), negotiation="n-interop", author=author.key_id,
                          created=datetime(2025, 6, 2, 10, 0, tzinfo=UTC), audience=Audience(("p" * 32,)),
                          prev="ab" * 32)
    content = {"text": "Proposed meeting: Istanbul, 2025-06-02.", "issues": ["1", "2"]}
    blob = seal(make_body("meeting.propose", content, header), [k.recipient for k in recipients])
    header = replace(header, ciphertexts=(CiphertextRef(hashlib.sha256(blob).hexdigest(), tuple(device_ids)),))
    return Envelope(header, sign_header(author, header), (blob,)), content


def test_raw_event_ciphertext_decrypts_with_age_cli(age: str, tmp_path: Path) -> None:
    keys = [EncryptionKey.generate() for _ in range(2)]
    envelope, content = _event(keys)
    # The raw ciphertext as the relay serves it: base64 in the event JSON.
    served = json.loads(envelope.to_json())["ciphertexts"][0]
    ct = tmp_path / "ct.age"
    ct.write_bytes(base64.b64decode(served, validate=True))
    for index, key in enumerate(keys):
        identity = _export_identity(tmp_path / f"identity{index}.txt", key, comments=bool(index))
        result = _run(age, "-d", "-i", str(identity), str(ct))
        assert result.returncode == 0, result.stderr.decode()
        plaintext = result.stdout
        assert plaintext == open_sealed(envelope.ciphertexts[0], key)
        body = json.loads(plaintext)
        assert body == {"type": "meeting.propose", "content": content, "binding": envelope.header.binding()}
        assert parse_body(plaintext, envelope.header).content == content


def test_age_cli_refuses_an_identity_the_event_is_not_for(age: str, tmp_path: Path) -> None:
    envelope, _ = _event([EncryptionKey.generate()])
    ct = tmp_path / "ct.age"
    ct.write_bytes(envelope.ciphertexts[0])
    identity = _export_identity(tmp_path / "identity.txt", EncryptionKey.generate())
    result = _run(age, "-d", "-i", str(identity), str(ct))
    assert result.returncode != 0
    assert result.stdout == b""


def test_age_cli_encrypts_to_a_parley_recipient(age: str, tmp_path: Path) -> None:
    key, other = EncryptionKey.generate(), EncryptionKey.generate()
    plain = tmp_path / "plain.bin"
    plain.write_bytes(os.urandom(100_000) + "Türkiye".encode())
    ct = tmp_path / "ct.age"
    result = _run(age, "-r", key.recipient, "-r", other.recipient, "-o", str(ct), str(plain))
    assert result.returncode == 0, result.stderr.decode()
    assert open_sealed(ct.read_bytes(), key) == plain.read_bytes()
    assert open_sealed(ct.read_bytes(), other) == plain.read_bytes()


def test_age_cli_derives_the_same_recipient_from_the_identity(age: str, tmp_path: Path) -> None:
    keygen = shutil.which("age-keygen")
    if keygen is None:
        pytest.skip("age-keygen not on PATH")
    key = EncryptionKey.generate()
    identity = _export_identity(tmp_path / "identity.txt", key)
    result = _run(keygen, "-y", str(identity))
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().strip() == key.recipient



def test_docs_recipe_with_jq_base64_and_age(age: str, tmp_path: Path) -> None:
    """The shell commands of docs/interop.md ("age") on a real event saved as event.json."""
    if shutil.which("jq") is None or shutil.which("base64") is None or shutil.which("sha256sum") is None:
        pytest.skip("jq, base64 or sha256sum not on PATH")
    key, stranger = EncryptionKey.generate(), EncryptionKey.generate()
    envelope, content = _event([key])
    (tmp_path / "event.json").write_bytes(envelope.to_json())
    _export_identity(tmp_path / "identity.txt", key)

    def sh(script: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(["bash", "-eo", "pipefail", "-c", script], cwd=tmp_path, capture_output=True,
                              timeout=30, check=False, env={**os.environ, "AGE": age})

    result = sh("jq -r '.ciphertexts[0]' event.json | base64 -d > ct.age\n"
                "sha256sum ct.age\n"
                '"$AGE" -d -i identity.txt ct.age > body.json\n'
                "jq -jcS '.header | del(.ciphertexts)' event.json | sha256sum")
    assert result.returncode == 0, result.stderr.decode()
    ct_digest, binding = (line.split()[0] for line in result.stdout.decode().splitlines())
    assert ct_digest == envelope.header.ciphertexts[0].sha256
    body = json.loads((tmp_path / "body.json").read_bytes())
    assert body == {"binding": binding, "content": content, "type": "meeting.propose"}
    assert binding == envelope.header.binding()

    _export_identity(tmp_path / "identity.txt", stranger)
    result = sh('"$AGE" -d -i identity.txt ct.age')
    assert result.returncode != 0
    assert b"no identity matched any of the recipients" in result.stderr
