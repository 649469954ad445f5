"""C2SP tlog-cosignature (Ed25519 cosignature/v1): published vectors, round trips and refusals."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given
from hypothesis import strategies as st

from parley.errors import InputError, VerificationError
from parley.tlog.cosignature import (
    Cosigner,
    cosign,
    cosignature_message,
    cosigned_by,
    cosigner_key_id,
    parse_cosignature_line,
    verify_cosignature,
)

VECTORS = json.loads((Path(__file__).parents[1] / "vectors" / "cosignature" / "vectors.json").read_text())
BODY = "relay.test/n-0123456789abcdef\n7\n" + base64.b64encode(bytes(range(32))).decode() + "\n"


def _cosigner(name: str = "witness.test/w1") -> tuple[Ed25519PrivateKey, Cosigner]:
    key = Ed25519PrivateKey.generate()
    return key, Cosigner(name, key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))


# ---- published vectors --------------------------------------------------------------------------------
def test_spec_example_signed_message_is_reproduced():
    example = VECTORS["spec_example"]
    assert cosignature_message(example["timestamp"], example["checkpoint"]).decode() == example["signed_message"]


def test_spec_example_line_has_the_cosignature_v1_payload():
    example = VECTORS["spec_example"]
    parsed = parse_cosignature_line(example["cosignature_line"])
    assert parsed.name == example["cosigner"]
    assert parsed.key_id.hex() == example["key_id"]
    assert parsed.timestamp == example["timestamp"]
    assert len(parsed.signature) == 64


@pytest.mark.parametrize("vector", VECTORS["verifier_keys"], ids=lambda v: v["desc"])
def test_go_verifier_key_vectors(vector):
    if vector["wantErr"]:
        with pytest.raises(InputError):
            Cosigner.from_vkey(vector["vkey"])
    else:
        cosigner = Cosigner.from_vkey(vector["vkey"])
        assert cosigner.vkey().split("+")[0] == vector["vkey"].split("+")[0]


@pytest.mark.parametrize("vector", VECTORS["timestamps"], ids=lambda v: v["desc"])
def test_go_timestamp_vectors(vector):
    line = "\u2014 witness.example/w1 " + vector["signature_base64"]
    if vector["wantErr"]:
        with pytest.raises(VerificationError):
            parse_cosignature_line(line)
    else:
        assert parse_cosignature_line(line).timestamp == vector["timestamp"]


def test_native_vkey_key_id_uses_signature_type_4():
    cosigner = Cosigner.from_vkey(VECTORS["verifier_keys"][1]["vkey"])
    assert cosigner.key_id.hex() == "da77ade7"
    assert cosigner.vkey() == VECTORS["verifier_keys"][1]["vkey"]


# ---- round trips and refusals ---------------------------------------------------------------------------
def test_cosignature_round_trip_and_payload_layout():
    key, cosigner = _cosigner()
    line = cosign(BODY, cosigner.name, key, 1_800_000_000)
    assert line.startswith("\u2014 witness.test/w1 ") and line.endswith("\n")
    payload = base64.b64decode(line.split(" ")[2])
    assert payload[:4] == cosigner_key_id(cosigner.name, cosigner.public_key)
    assert int.from_bytes(payload[4:12], "big") == 1_800_000_000
    assert verify_cosignature(BODY, line, cosigner) == 1_800_000_000


@pytest.mark.parametrize("change", [
    lambda b: b.replace("\n7\n", "\n8\n"),                      # another size
    lambda b: b.replace(b.splitlines()[2], base64.b64encode(b"\x01" * 32).decode()),  # another root
    lambda b: b.replace("relay.test/", "other.test/"),          # another log
    lambda b: b + "extension\n",                                # an extension line added
])
def test_cosignature_over_another_view_is_refused(change):
    key, cosigner = _cosigner()
    line = cosign(BODY, cosigner.name, key, 1_800_000_000)
    with pytest.raises(VerificationError, match="does not verify over this checkpoint"):
        verify_cosignature(change(BODY), line, cosigner)


def test_cosignature_with_a_changed_timestamp_is_refused():
    key, cosigner = _cosigner()
    payload = bytearray(base64.b64decode(cosign(BODY, cosigner.name, key, 1_800_000_000).split(" ")[2]))
    payload[11] ^= 1
    forged = f"\u2014 {cosigner.name} {base64.b64encode(bytes(payload)).decode()}\n"
    with pytest.raises(VerificationError):
        verify_cosignature(BODY, forged, cosigner)


def test_cosignature_by_a_plain_note_key_id_is_not_a_cosignature():
    """The same key under signature type 0x01 has another key id: a plain note signature cannot pass."""
    key, cosigner = _cosigner()
    line = cosign(BODY, cosigner.name, key, 5)
    payload = base64.b64decode(line.split(" ")[2])
    import hashlib

    plain_id = hashlib.sha256(cosigner.name.encode() + b"\n\x01" + cosigner.public_key).digest()[:4]
    relabelled = f"\u2014 {cosigner.name} {base64.b64encode(plain_id + payload[4:]).decode()}\n"
    with pytest.raises(VerificationError, match="not by"):
        verify_cosignature(BODY, relabelled, cosigner)


def test_quorum_counts_groups_once_and_ignores_junk():
    k1, c1 = _cosigner("party-a/d1")
    k2, c2 = _cosigner("party-a/d2")
    k3, c3 = _cosigner("party-b/d1")
    lines = [cosign(BODY, "party-a/d1", k1, 10), cosign(BODY, "party-a/d2", k2, 20),
             "\u2014 junk AAAA\n", "not a line", cosign(BODY + "x\n", "party-b/d1", k3, 30)]
    found = cosigned_by(BODY, lines, {"A": [c1, c2], "B": [c3]})
    assert found == {"A": 20}  # B signed another body: not counted


def test_timestamp_out_of_range_is_refused():
    key, _ = _cosigner()
    with pytest.raises(InputError):
        cosign(BODY, "w", key, 2**63)
    with pytest.raises(InputError):
        cosign(BODY, "w", key, -1)


@given(st.text(max_size=200))
def test_parse_never_raises_anything_but_verification_error(text):
    try:
        parse_cosignature_line(text)
    except VerificationError:
        pass
