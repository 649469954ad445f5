"""RFC 8785 canonical JSON and Ed25519 signatures over it.

Floats are refused in anything signed: numbers that must survive every JSON
implementation are integers within 2**53, anything larger travels as a string.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import orjson
import rfc8785

from parley.crypto.keys import SigningKey, verify_bytes
from parley.errors import InputError

_MAX_SAFE_INT = 2**53 - 1


def _check_signable(value: Any, depth: int = 0) -> bool:
    """Refuse what RFC 8785 cannot carry safely; return whether every object key is ASCII.

    Exact types are tested first (``type(x) is str``): every header of every event passes through here,
    and the plain types are nearly all of it; subclasses take the ``isinstance`` path below.
    """
    if depth > 32:
        raise InputError("JSON nesting is too deep to sign")
    kind = type(value)
    if kind is str or value is None or kind is bool:
        return True
    if (kind is dict or kind is list or kind is tuple) and value and depth >= 32:
        raise InputError("JSON nesting is too deep to sign")  # its items would be one level too deep
    if kind is dict:
        ascii_keys = True
        for key in value:
            if type(key) is not str and not isinstance(key, str):
                raise InputError("JSON object keys must be strings")
            if not key.isascii():
                ascii_keys = False
        return _check_items(value.values(), depth) and ascii_keys
    if kind is list or kind is tuple:
        return _check_items(value, depth)
    if isinstance(value, bool) or isinstance(value, str):
        return True
    if isinstance(value, int):
        if abs(value) > _MAX_SAFE_INT:
            raise InputError("integers over 2**53 must be sent as strings")
        return True
    if isinstance(value, float):
        raise InputError("floats are not allowed in signed data")
    if isinstance(value, (list, tuple, dict)):
        return _check_signable(dict(value) if isinstance(value, dict) else list(value), depth)
    raise InputError(f"cannot sign a value of type {type(value).__name__}")


def _check_items(items: Iterable[Any], depth: int) -> bool:
    """``_check_signable`` of each item of a container at ``depth``; the plain leaves inline."""
    ascii_keys = True
    for item in items:
        item_kind = type(item)
        if item_kind is str or item is None or item_kind is bool:
            continue
        if not _check_signable(item, depth + 1):
            ascii_keys = False
    return ascii_keys


def canonical_bytes(value: Any) -> bytes:
    """RFC 8785 bytes of a JSON value.

    With no floats, integers within 2**53 and ASCII keys (everything parley signs), ``orjson`` with
    sorted keys writes exactly the RFC 8785 form (same string escapes, same key order, UTF-8 kept as
    is) about fifty times faster than the pure-Python encoder (a 1 MB memorandum: 0.3 ms instead of
    the standard library's 3 ms), which remains the path for anything else; ``tests/crypto`` checks
    the two agree on generated JSON.

    Raises:
        InputError: the value holds floats, huge integers, lone surrogates or non-JSON types.
    """
    if _check_signable(value):
        try:
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:
            raise InputError("cannot canonicalize JSON: a string holds a lone surrogate") from None
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, ValueError, TypeError) as exc:
        raise InputError(f"cannot canonicalize JSON: {exc}") from None


def canonical_sha256(value: Any) -> str:
    """Hex SHA-256 of the canonical bytes. Raises: InputError as ``canonical_bytes``."""
    return hashlib.sha256(canonical_bytes(value)).hexdigest()


def sign_canonical(key: SigningKey, value: Any) -> str:
    """Base64 Ed25519 signature over the canonical bytes of ``value``.

    Raises:
        InputError: the value cannot be canonicalized.
    """
    return key.sign(canonical_bytes(value))


def verify_canonical(public_key_b64: str, value: Any, signature_b64: str) -> None:
    """Check a signature over the canonical bytes of ``value``.

    Raises:
        SignatureError: the signature does not verify (or key/signature malformed).
        InputError: the value cannot be canonicalized.
    """
    verify_bytes(public_key_b64, canonical_bytes(value), signature_b64)
