"""The compact column encodings give back exactly what they were given, whatever its shape."""

from __future__ import annotations

import base64
import hashlib
import json
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from parley.errors import StorageError
from parley.store import codec

HEX = "0123456789abcdef"


def _ordinary_header() -> bytes:
    ids = [os.urandom(16).hex() for _ in range(6)]
    return json.dumps({
        "audience": {"parties": sorted(ids[:5]), "roles": None}, "author": ids[5], "authority": "member",
        "checkpoint": None, "ciphertexts": [{"recipients": sorted(ids[1:]), "sha256": os.urandom(32).hex()}],
        "created": "2026-11-25T00:44:41Z", "negotiation": "n-" + os.urandom(8).hex(),
        "nonce": base64.b64encode(os.urandom(16)).decode(), "prev": os.urandom(32).hex(), "public": None, "v": 1,
    }, separators=(",", ":"), sort_keys=True).encode()


def test_an_ordinary_header_takes_under_half_its_size():
    header = _ordinary_header()
    stored = codec.pack_header(header)
    assert codec.unpack_header(stored) == header
    assert len(stored) < len(header) / 2, (len(stored), len(header))


@pytest.mark.parametrize("header", [
    b"", b"{}", b"\x00", b"\x01", b"\x02", b"\x00\x01\x02", b"a" * 32, b"A" * 32, b"0" * 31, b"0" * 33, b"0" * 64,
    b'{"k":"' + b"ab" * 40 + b'"}', "é{ünïcode}".encode(), b"\xff\xfe", b"%s%%\x00" + b"f" * 32,
])
def test_headers_of_any_shape_round_trip(header):
    assert codec.unpack_header(codec.pack_header(header)) == header


@given(st.lists(st.one_of(st.binary(max_size=40), st.text(HEX, min_size=30, max_size=70).map(str.encode)),
                max_size=12))
def test_headers_round_trip_property(pieces):
    header = b"".join(pieces)
    assert codec.unpack_header(codec.pack_header(header)) == header


# Stored rows depend on these exact bytes: a faster encoder must write what revision 0004 wrote.
_GOLDEN_HEADER_IDS = [f"{i:032x}" for i in range(1, 7)]
_GOLDEN = [
    (json.dumps({
        "audience": {"parties": sorted(_GOLDEN_HEADER_IDS[:5]), "roles": None}, "author": _GOLDEN_HEADER_IDS[5],
        "authority": "member", "checkpoint": None,
        "ciphertexts": [{"recipients": sorted(_GOLDEN_HEADER_IDS[1:]), "sha256": "ab" * 32}],
        "created": "2026-11-25T00:44:41Z", "negotiation": "n-" + "cd" * 8,
        "nonce": base64.b64encode(bytes(range(16))).decode(), "prev": "ef" * 32, "public": None, "v": 1,
    }, separators=(",", ":"), sort_keys=True).encode(),
     "02000f0000000000000000000000000000000100000000000000000000000000000002000000000000000000000000000000"
     "0300000000000000000000000000000004000000000000000000000000000000050000000000000000000000000000000600"
     "0000000000000000000000000000020000000000000000000000000000000300000000000000000000000000000004000000"
     "0000000000000000000000000500000000000000000000000000000006ababababababababababababababababababababab"
     "abababababababababababefefefefefefefefefefefefefefefefefefefefefefefefefefefefefefefef1bfa016268a86b640a0a1013132b13436c01929c820a9102c8d1d1d5d9b13cd0cd293dd9d33930dfc7c5d1c0dfa5dcd69670c00100"),
    (b'{"k":"' + b"0123456789abcdef" * 2 + b'"}', "0200010123456789abcdef0123456789abcdefab56ca06fba81600"),
]


@pytest.mark.parametrize(("header", "stored"), _GOLDEN)
def test_the_stored_form_of_a_header_is_unchanged(header, stored):
    assert codec.pack_header(header).hex() == stored
    assert codec.unpack_header(bytes.fromhex(stored)) == header


def test_a_header_with_missing_run_bytes_is_a_storage_error():
    stored = codec.pack_header(_ordinary_header())
    count = int.from_bytes(stored[1:3], "big")
    with pytest.raises(StorageError):
        codec.unpack_header(stored[:3 + 16 * count - 1])
    with pytest.raises(StorageError):
        codec.unpack_header(stored[:1] + (count + 1).to_bytes(2, "big") + stored[3:])


def test_a_plain_json_header_written_by_hand_reads_back():
    header = _ordinary_header()
    assert codec.unpack_header(header) == header


def test_a_damaged_header_is_a_storage_error():
    stored = codec.pack_header(_ordinary_header())
    with pytest.raises(StorageError):
        codec.unpack_header(stored[:-5])


@pytest.mark.parametrize("event_id", [
    hashlib.sha256(b"x").hexdigest(), "0" * 64, "legacy", "", "A" * 64, "g" * 64, "é" * 10, "x" * 31, "x" * 32, "x" * 33,
])
def test_event_ids_round_trip(event_id):
    stored = codec.pack_event_id(event_id)
    assert codec.unpack_event_id(stored) == event_id
    assert (len(stored) == 32) == (event_id == event_id.lower() and len(event_id) == 64 and all(c in HEX for c in event_id))


@pytest.mark.parametrize("key_id", [os.urandom(16).hex(), "odd key id", "", "A" * 32, "x" * 15, "x" * 16])
def test_key_ids_round_trip(key_id):
    assert codec.unpack_key_id(codec.pack_key_id(key_id)) == key_id


@pytest.mark.parametrize("signature", [
    base64.b64encode(os.urandom(64)).decode(), "sig0", "", "x" * 63, "x" * 64, "x" * 88, "é" * 40,
    base64.b64encode(os.urandom(64)).decode().rstrip("="),
])
def test_signatures_round_trip(signature):
    stored = codec.pack_signature(signature)
    assert codec.unpack_signature(stored) == signature


@given(st.text(max_size=100))
def test_text_values_round_trip_property(value):
    assert codec.unpack_signature(codec.pack_signature(value)) == value
    assert codec.unpack_event_id(codec.pack_event_id(value)) == value
    assert codec.unpack_key_id(codec.pack_key_id(value)) == value


def test_reader_lists_match_whole_numbers_only():
    stored = codec.pack_readers([17, 3, 42, 3])
    assert stored == ",3,17,42,"
    assert codec.unpack_readers(stored) == {3, 17, 42}
    assert codec.reader_pattern(17) in stored
    assert codec.reader_pattern(1) not in stored and codec.reader_pattern(7) not in stored
    assert codec.reader_pattern(4) not in stored and codec.reader_pattern(2) not in stored
    assert codec.pack_readers([]) == ","
