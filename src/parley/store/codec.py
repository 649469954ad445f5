"""Compact, lossless column encodings of the relay schema (revision 0004).

The store's contract stays text in, text out (hex event ids, base64 signatures, JSON headers);
these functions turn them into the bytes kept on disk and back. Every encoding is exact for any
input: a value that does not have the usual shape (64 hex digits, 64 bytes of base64) is kept as
its UTF-8 text with a marker, so nothing the store is given is ever changed on the way back.
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib

from parley.errors import StorageError

# A header is canonical JSON whose bulk is lowercase hex ids (party, device, event ids and
# ciphertext digests): each run of 32 hex digits is stored as its 16 bytes instead.
_HEX32_GROUP = re.compile(rb"([0-9a-f]{32})")
_VERBATIM = b"\x00"  # tag, then the header as given (it holds a NUL, or starts with a tag byte)
_PACKED = b"\x01"  # tag, u16 count, count * 16 raw bytes, then the text with one NUL per run
_DEFLATED = b"\x02"  # as _PACKED, the text raw-deflated with _ZDICT_1
_MAX_RUNS = 0xFFFF
# What the text of a header (its hex runs taken out) usually says, as a preset deflate dictionary:
# the ~320 bytes of an ordinary header's text then take ~70. Stored rows depend on these exact
# bytes: never edit them, add a new tag and dictionary instead.
_ZDICT_1 = (
    b'"content":{"certificates":[{"encryption_key":"age1","member":"","not_after":"","not_before":"",'
    b'"party_id":"\x00","role":"head","signature":"","signing_key":"","type":"parley.member-certificate.v1"}],'
    b'"party":{"name":"","party_id":"\x00","root_key":"","signature":"","type":"parley.party.v1"}},'
    b'"type":"negotiation.genesis"},"checkpoint":{"root":"","size":},"roles":["delegate","expert","head",'
    b'"observer"],"authority":"head","prev":null,"public":{'
    b'{"audience":{"parties":["\x00","\x00","\x00","\x00","\x00"],"roles":null},"author":"\x00",'
    b'"authority":"member","checkpoint":null,"ciphertexts":[{"recipients":["\x00","\x00","\x00","\x00",'
    b'"\x00"],"sha256":"\x00\x00"}],"created":"2026-01-01T00:00:00Z","negotiation":"n-","nonce":"",'
    b'"prev":"\x00\x00","public":null,"v":1}'
)
_WBITS = -15  # raw deflate: no zlib header or checksum (the header is signed; a damaged one fails checks)
# UTF-8 never contains 0xFF: the marker of a value kept as text in a fixed-width binary column.
_TEXT_MARK = b"\xff"


def pack_header(header: bytes) -> bytes:
    """The stored form of a header (raw JSON bytes): its hex runs as bytes, the rest deflated."""
    if b"\x00" not in header:
        # One pass: split() with a group returns the text between runs at even places, the runs at odd.
        pieces = _HEX32_GROUP.split(header)
        count = len(pieces) // 2
        if count <= _MAX_RUNS:
            raw = binascii.unhexlify(b"".join(pieces[1::2]))
            text = b"\x00".join(pieces[0::2])
            deflate = zlib.compressobj(9, zlib.DEFLATED, _WBITS, 9, zlib.Z_DEFAULT_STRATEGY, _ZDICT_1)
            deflated = deflate.compress(text) + deflate.flush()
            tag, text = (_DEFLATED, deflated) if len(deflated) < len(text) else (_PACKED, text)
            return tag + count.to_bytes(2, "big") + raw + text
    return _VERBATIM + header


def unpack_header(stored: bytes) -> bytes:
    """The header bytes ``pack_header`` was given.

    Raises:
        StorageError: the stored value is damaged.
    """
    stored = bytes(stored)
    tag = stored[:1]
    if tag == _DEFLATED or tag == _PACKED:
        count = int.from_bytes(stored[1:3], "big")
        end = 3 + 16 * count
        text = stored[end:]
        if tag == _DEFLATED:
            try:
                inflate = zlib.decompressobj(_WBITS, _ZDICT_1)
                text = inflate.decompress(text) + inflate.flush()
            except zlib.error:
                raise StorageError("a stored event header is damaged") from None
        parts = text.split(b"\x00")
        if len(parts) != count + 1 or len(stored) < end:
            raise StorageError("a stored event header is damaged")
        if count == 0:
            return parts[0]
        out = [b""] * (2 * count + 1)
        out[0::2] = parts
        # hexlify with a separator every 16 bytes: the runs as 32-digit pieces in one C call
        out[1::2] = binascii.hexlify(stored[3:end], b"\x00", 16).split(b"\x00")
        return b"".join(out)
    if tag == _VERBATIM:
        return stored[1:]
    return stored  # plain JSON (starts with "{"): written by hand, or by an older tool


def _as_text(value: str, width: int) -> bytes:
    data = value.encode("utf-8")
    # A text value must never be ``width`` bytes long, or it would read back as raw bytes.
    return data + (_TEXT_MARK * 2 if len(data) + 1 == width else _TEXT_MARK)


def _from_text(stored: bytes) -> str:
    return stored.rstrip(_TEXT_MARK).decode("utf-8")


def _pack_hex(value: str, width: int) -> bytes:
    """``width`` raw bytes for ``2 * width`` lowercase hex digits, the marked text otherwise."""
    if len(value) == 2 * width:
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            raw = b""
        if raw.hex() == value:
            return raw
    return _as_text(value, width)


def _unpack_hex(stored: bytes, width: int) -> str:
    stored = bytes(stored)
    return stored.hex() if len(stored) == width else _from_text(stored)


def pack_event_id(event_id: str) -> bytes:
    """32 raw bytes for the usual 64 lowercase hex digits (a SHA-256), the marked text otherwise."""
    return _pack_hex(event_id, 32)


def unpack_event_id(stored: bytes) -> str:
    return _unpack_hex(stored, 32)


def pack_key_id(key_id: str) -> bytes:
    """16 raw bytes for the usual 32 lowercase hex digits of a device key id, the marked text otherwise."""
    return _pack_hex(key_id, 16)


def unpack_key_id(stored: bytes) -> str:
    return _unpack_hex(stored, 16)


def pack_signature(signature: str) -> bytes:
    """64 raw bytes for canonical base64 of an Ed25519 signature, the marked text otherwise."""
    if len(signature) == 88:
        try:
            raw = base64.b64decode(signature.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raw = b""
        if len(raw) == 64 and base64.b64encode(raw).decode("ascii") == signature:
            return raw
    return _as_text(signature, 64)


def unpack_signature(stored: bytes) -> str:
    stored = bytes(stored)
    return base64.b64encode(stored).decode("ascii") if len(stored) == 64 else _from_text(stored)


def pack_readers(device_numbers: set[int] | list[int]) -> str:
    """The readers of one ciphertext as ``",3,17,42,"``: a reader ``n`` matches ``LIKE '%,n,%'``."""
    return "," + "".join(f"{n}," for n in sorted(set(device_numbers)))


def reader_pattern(device_number: int) -> str:
    return f",{device_number},"


def unpack_readers(stored: str) -> set[int]:
    return {int(n) for n in stored.split(",") if n}
