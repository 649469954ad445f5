"""SSHSIG signatures (OpenSSH ``PROTOCOL.sshsig``) with Ed25519, on ``cryptography``.

parley signs agreements in the format ``ssh-keygen -Y sign`` writes, so anyone can
check a signature offline with stock OpenSSH and an ``allowed_signers`` file
(see ``docs/interop.md``). Only Ed25519 keys are supported: they are the only keys
parley devices hold, and a single algorithm keeps the parser small.

Blob layout (all strings are SSH ``string``: uint32 length + bytes)::

    "SSHSIG" uint32(1) string(publickey) string(namespace) string(reserved)
    string(hash_algorithm) string(signature)

The signed data is ``"SSHSIG" string(namespace) string(reserved)
string(hash_algorithm) string(H(message))``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from parley.errors import InputError, SignatureError

__all__ = [
    "AGREEMENT_NAMESPACE",
    "allowed_signers_line",
    "public_key_from_signature",
    "ssh_public_key_line",
    "sshsig_sign",
    "sshsig_verify",
]

AGREEMENT_NAMESPACE = "agreement-v1@parley"

_MAGIC = b"SSHSIG"
_VERSION = 1
_KEY_TYPE = b"ssh-ed25519"
_BEGIN = "-----BEGIN SSH SIGNATURE-----"
_END = "-----END SSH SIGNATURE-----"
_WRAP = 70  # ssh-keygen's armor line width (sshsig.c, sshbuf_dtob64 with wrap)
# ssh-keygen signs with sha512 by default and verifies both; we accept both so
# signatures made with `ssh-keygen -Y sign -O hashalg=sha256` verify too.
_HASHES = {b"sha512": hashlib.sha512, b"sha256": hashlib.sha256}
# One message for every verification failure, so callers cannot leak (or be led
# to rely on) which check failed.
_BAD = "SSH signature did not verify"


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


class _Reader:
    """Cursor over SSH wire data; every short read is a malformed signature."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def raw(self, n: int) -> bytes:
        if self._pos + n > len(self._data):
            raise SignatureError(_BAD)
        out = self._data[self._pos : self._pos + n]
        self._pos += n
        return out

    def uint32(self) -> int:
        return int(struct.unpack(">I", self.raw(4))[0])

    def string(self) -> bytes:
        return self.raw(self.uint32())

    def end(self) -> None:
        # Trailing bytes would let two different blobs carry the same signature.
        if self._pos != len(self._data):
            raise SignatureError(_BAD)


def _public_blob(public_key: Ed25519PublicKey) -> bytes:
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return _string(_KEY_TYPE) + _string(raw)


def _check_namespace(namespace: str) -> bytes:
    # ssh-keygen refuses an empty namespace; a namespace is what stops a signature
    # made for one purpose being replayed for another.
    if not isinstance(namespace, str) or not namespace or not namespace.isprintable():
        raise InputError("SSHSIG namespace must be a non-empty printable string")
    return namespace.encode("utf-8")


def _signed_data(namespace: bytes, hash_alg: bytes, message: bytes) -> bytes:
    digest = _HASHES[hash_alg](message).digest()
    # Reserved is always signed as empty, as OpenSSH does.
    return _MAGIC + _string(namespace) + _string(b"") + _string(hash_alg) + _string(digest)


def sshsig_sign(private_key: Ed25519PrivateKey, message: bytes, namespace: str) -> str:
    """Sign ``message`` and return the armored text ``ssh-keygen -Y sign`` would write.

    Ed25519 is deterministic, so the output is byte-identical to ssh-keygen's for
    the same key, namespace and message (hash algorithm sha512).

    Raises:
        InputError: ``namespace`` is empty or not printable, or ``message`` is not bytes.
    """
    ns = _check_namespace(namespace)
    if not isinstance(message, bytes):
        raise InputError("SSHSIG message must be bytes")
    signature = private_key.sign(_signed_data(ns, b"sha512", message))
    sig_blob = _string(_KEY_TYPE) + _string(signature)
    blob = (
        _MAGIC + struct.pack(">I", _VERSION) + _string(_public_blob(private_key.public_key()))
        + _string(ns) + _string(b"") + _string(b"sha512") + _string(sig_blob)
    )
    b64 = base64.b64encode(blob).decode("ascii")
    lines = [b64[i : i + _WRAP] for i in range(0, len(b64), _WRAP)]
    return "\n".join([_BEGIN, *lines, _END]) + "\n"


def _parse(armored: str) -> tuple[bytes, bytes, bytes, bytes]:
    """Return (raw public key, namespace, hash algorithm, raw signature)."""
    if not isinstance(armored, str):
        raise SignatureError(_BAD)
    lines = armored.strip().splitlines()
    if len(lines) < 3 or lines[0].strip() != _BEGIN or lines[-1].strip() != _END:
        raise SignatureError(_BAD)
    try:
        blob = base64.b64decode("".join(line.strip() for line in lines[1:-1]), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError(_BAD) from None
    r = _Reader(blob)
    if r.raw(6) != _MAGIC or r.uint32() != _VERSION:
        raise SignatureError(_BAD)
    key = _Reader(r.string())
    namespace = r.string()
    r.string()  # reserved: PROTOCOL.sshsig says ignore it
    hash_alg = r.string()
    sig = _Reader(r.string())
    r.end()
    if key.string() != _KEY_TYPE:
        raise SignatureError(_BAD)
    raw_key = key.string()
    key.end()
    if sig.string() != _KEY_TYPE:
        raise SignatureError(_BAD)
    raw_sig = sig.string()
    sig.end()
    if len(raw_key) != 32 or len(raw_sig) != 64 or hash_alg not in _HASHES:
        raise SignatureError(_BAD)
    return raw_key, namespace, hash_alg, raw_sig


def load_ssh_public_key(text: str) -> Ed25519PublicKey:
    """An OpenSSH public key line (``ssh-ed25519 AAAA...``), as in an ``allowed_signers`` file.

    Raises:
        InputError: unreadable, or not an Ed25519 key.
    """
    from cryptography.hazmat.primitives.serialization import load_ssh_public_key as load

    try:
        key = load(text.encode())
    except (ValueError, UnicodeError):
        raise InputError("not an OpenSSH public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise InputError("not an Ed25519 key")
    return key


def sshsig_verify(armored: str, message: bytes, namespace: str, public_key: Ed25519PublicKey) -> None:
    """Check that ``armored`` is a valid SSHSIG by ``public_key`` over ``message`` in ``namespace``.

    Raises:
        SignatureError: with one opaque message for any failure: malformed armor or
            blob, unsupported key or hash algorithm, wrong namespace, a signature by
            another key, or a different message.
        InputError: ``namespace`` is empty or not printable.
    """
    expected_ns = _check_namespace(namespace)
    raw_key, ns, hash_alg, raw_sig = _parse(armored)
    if not isinstance(message, bytes) or ns != expected_ns:
        raise SignatureError(_BAD)
    if raw_key != public_key.public_bytes(Encoding.Raw, PublicFormat.Raw):
        raise SignatureError(_BAD)
    try:
        public_key.verify(raw_sig, _signed_data(ns, hash_alg, message))
    except InvalidSignature:
        raise SignatureError(_BAD) from None


def public_key_from_signature(armored: str) -> Ed25519PublicKey:
    """Return the public key embedded in an SSHSIG.

    The key is NOT authenticated by this call: look it up in a trusted list, then
    call :func:`sshsig_verify` with it.

    Raises:
        SignatureError: the armor or blob is malformed or the key is not Ed25519.
    """
    raw_key, _, _, _ = _parse(armored)
    return Ed25519PublicKey.from_public_bytes(raw_key)


def ssh_public_key_line(public_key: Ed25519PublicKey, comment: str = "") -> str:
    """Return an OpenSSH public key line, ``ssh-ed25519 AAAA... comment``.

    Raises:
        InputError: ``comment`` contains a line break or other control character.
    """
    if not comment.isprintable():
        raise InputError("SSH key comment must be printable on one line")
    line = public_key.public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode("ascii")
    return f"{line} {comment}" if comment else line


# Characters with meaning in allowed_signers: whitespace separates fields, commas
# separate principal patterns, `*?!` are pattern syntax and `"` ends the option.
_PRINCIPAL_FORBIDDEN = frozenset(' \t,"*?!')


def allowed_signers_line(principal: str, public_key: Ed25519PublicKey, namespace: str) -> str:
    """Return an ``allowed_signers`` line restricting ``public_key`` to ``namespace``.

    Usable as ``ssh-keygen -Y verify -f allowed_signers -I principal -n namespace
    -s file.sig < file``.

    Raises:
        InputError: ``principal`` is empty or contains characters ssh-keygen would
            read as syntax, or ``namespace`` is empty or contains a quote or comma.
    """
    if not principal or not principal.isprintable() or set(principal) & _PRINCIPAL_FORBIDDEN:
        raise InputError("principal must be a non-empty name without spaces, quotes, commas or wildcards")
    _check_namespace(namespace)
    if set(namespace) & set('",*?! \t'):
        # namespaces="..." is a pattern list: these would change its meaning.
        raise InputError("namespace must not contain quotes, commas, spaces or wildcards")
    return f'{principal} namespaces="{namespace}" {ssh_public_key_line(public_key)}'
