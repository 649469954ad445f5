"""The encryption of a recovery file: one age file, under a passphrase or a generated recovery key.

A passphrase backup is an age scrypt file (``age -d FILE`` asks for the passphrase); a recovery-key
backup is an age file to the X25519 recipient of a freshly generated identity (``AGE-SECRET-KEY-1...``),
which is printed once and kept by the person (on paper, in a safe): ``age -d -i key.txt FILE`` opens it.
The kind is read from the file's own header, so restoring asks for the right secret.
"""

from __future__ import annotations

import pyrage

from parley.errors import BadPassphraseError, InputError

AGE_MAGIC = b"age-encryption.org/v1\n"


def generate_recovery_key() -> str:
    """A new recovery key (an age identity string, ``AGE-SECRET-KEY-1...``)."""
    return str(pyrage.x25519.Identity.generate())


def seal_recovery(plaintext: bytes, *, passphrase: str | None = None, recovery_key: str | None = None) -> bytes:
    """Encrypt a backup under exactly one of ``passphrase`` or ``recovery_key``.

    Raises:
        InputError: neither or both given, an empty passphrase, or a malformed recovery key.
    """
    if (passphrase is None) == (recovery_key is None):
        raise InputError("a backup is protected by a passphrase or by a recovery key, one of the two")
    if passphrase is not None:
        if not passphrase:
            raise InputError("the backup passphrase must not be empty")
        return pyrage.passphrase.encrypt(plaintext, passphrase)
    return pyrage.encrypt(plaintext, [_identity(recovery_key).to_public()])


def recovery_kind(blob: bytes) -> str:
    """``"passphrase"`` or ``"recovery-key"``: what opens this age file.

    Raises:
        InputError: not an age file, or one this module did not write.
    """
    if not blob.startswith(AGE_MAGIC):
        raise InputError("not a parley backup: the file is not an age file")
    stanza = blob[len(AGE_MAGIC):].split(b"\n", 1)[0]
    if stanza.startswith(b"-> scrypt "):
        return "passphrase"
    if stanza.startswith(b"-> X25519 "):
        return "recovery-key"
    raise InputError("not a parley backup: an age file for another kind of key")


def open_recovery(blob: bytes, *, passphrase: str | None = None, recovery_key: str | None = None) -> bytes:
    """Decrypt a backup.

    Raises:
        InputError: not a backup, or the wrong kind of secret for it.
        BadPassphraseError: the passphrase or recovery key is wrong, or the file was altered.
        KeystoreError: the machine is too busy to derive the passphrase's key now.
    """
    kind = recovery_kind(blob)
    if kind == "passphrase":
        if not passphrase:
            raise InputError("this backup is protected by a passphrase")
        from pathlib import Path

        from parley.crypto.keystore import _decrypt_passphrase

        try:
            return _decrypt_passphrase(Path("backup"), blob, passphrase)
        except BadPassphraseError:
            raise BadPassphraseError("cannot open the backup: wrong passphrase or damaged file") from None
    if not recovery_key:
        raise InputError("this backup is protected by a recovery key (AGE-SECRET-KEY-1...)")
    identity = _identity(recovery_key)
    try:
        return pyrage.decrypt(blob, [identity])
    except Exception:
        raise BadPassphraseError("cannot open the backup: wrong recovery key or damaged file") from None


def _identity(recovery_key: str | None) -> pyrage.x25519.Identity:
    try:
        return pyrage.x25519.Identity.from_str((recovery_key or "").strip())
    except Exception:
        raise InputError("a recovery key looks like AGE-SECRET-KEY-1... (as printed when the backup was made)") \
            from None
