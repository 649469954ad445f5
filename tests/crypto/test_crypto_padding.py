"""Padmé padding of event bodies: buckets, round trip, and what a ciphertext's size still tells."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parley.crypto.keys import EncryptionKey
from parley.crypto.padding import pad, padme_length, unpad
from parley.crypto.seal import open_padded, open_sealed, seal, seal_padded
from parley.errors import ProtocolError


@given(st.binary(max_size=5000))
@settings(max_examples=300, deadline=None)
def test_padding_round_trips_any_plaintext(plaintext: bytes) -> None:
    padded = pad(plaintext)
    assert len(padded) == padme_length(len(plaintext) + 1)
    assert unpad(padded) == plaintext


def test_padme_overhead_is_at_most_twelve_percent_and_buckets_are_few() -> None:
    worst = max((padme_length(n) - n) / n for n in range(64, 200_000))
    assert worst <= 0.12
    # 1,000 to 10,000 bytes (a memorandum's range) fall into 53 sizes, not 9,000
    assert len({padme_length(n) for n in range(1000, 10_000)}) == 53


@pytest.mark.parametrize("damaged", [b"no padding at all", b"text\x80" + bytes(40), b"text\x80\x00\x01"])
def test_payload_without_its_padding_is_refused(damaged: bytes) -> None:
    with pytest.raises(ProtocolError):
        unpad(damaged)


def age_payload_length(ciphertext: bytes) -> int:
    """What the relay can measure exactly: the bytes after the age header (the header's own length
    varies with rage's random grease stanza, which is noise, not information)."""
    end = ciphertext.index(b"\n---")
    return len(ciphertext) - ciphertext.index(b"\n", end + 1) - 1


def test_relay_reads_memorandum_length_from_ciphertext_size() -> None:
    """Two memoranda of different lengths in the same bucket: the relay sees one size."""
    reader = EncryptionKey.generate()
    short, long = b"{" + b"a" * 3467 + b"}", b"{" + b"a" * 3562 + b"}"
    assert age_payload_length(seal(short, [reader.recipient])) != age_payload_length(seal(long, [reader.recipient]))
    sealed_short, sealed_long = seal_padded(short, [reader.recipient]), seal_padded(long, [reader.recipient])
    assert age_payload_length(sealed_short) == age_payload_length(sealed_long) == 16 + 3584 + 16
    assert open_padded(sealed_long, reader) == long
    # a standard age file: the padding is inside the payload, visible only to the reader
    assert open_sealed(sealed_short, reader).startswith(short + b"\x80")
