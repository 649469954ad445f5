"""The key and the connection of a profile's encrypted local database (SQLCipher through ``sqlcipher3``).

SQLCipher encrypts every page of the database, its WAL and its journal with AES-256 (HMAC-SHA512 per
page); nothing of the file is in clear but its size. The 256-bit key is derived from the member's age
identity (HKDF-SHA256, its own ``info``), so it is unlocked with the keystore (or the key agent) and
needs no second secret; it is handed to SQLCipher as a raw key, so SQLCipher's own passphrase KDF is
not run at every open.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from parley.crypto.keys import EncryptionKey
from parley.errors import StorageError

_INFO = b"parley local store v1"
SQLITE_MAGIC = b"SQLite format 3\x00"


def local_store_key(identity: EncryptionKey) -> bytes:
    """The 32-byte key of this member's local database."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(identity.identity.encode())


def _keyed(path: Path | str, key: bytes, **connect: Any) -> Any:
    import sqlcipher3

    conn = sqlcipher3.connect(str(path), **connect)
    conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
    return conn


def open_encrypted_db(path: Path, key: bytes, **connect: Any) -> Any:
    """A DB-API connection (the ``sqlite3`` interface) to the encrypted database at ``path``, created
    0600 if missing. A database this profile wrote in clear before is encrypted in place first.

    Raises:
        StorageError: the file is not this key's database (another profile's, or damaged).
    """
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))
    elif _is_plaintext_sqlite(path):
        _encrypt_in_place(path, key)
    conn = _keyed(path, key, **connect)
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except Exception:
        conn.close()
        raise StorageError(f"{path} cannot be opened with this profile's key: another profile's file, or damaged",
                           hint="move it away; the next sync fetches and verifies the log again") from None
    return conn


def _is_plaintext_sqlite(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC


def _encrypt_in_place(path: Path, key: bytes) -> None:
    """Rewrite a clear SQLite database encrypted (``sqlcipher_export``), then remove the clear files."""
    plain = sqlite3.connect(str(path))
    try:
        plain.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        plain.execute("PRAGMA journal_mode=DELETE")
    finally:
        plain.close()
    tmp = path.with_name(path.name + ".encrypting")
    tmp.unlink(missing_ok=True)
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))
    import sqlcipher3

    conn = sqlcipher3.connect(str(path))
    try:
        conn.execute(f"ATTACH DATABASE ? AS encrypted KEY \"x'{key.hex()}'\"", (str(tmp),))
        conn.execute("SELECT sqlcipher_export('encrypted')")
        conn.execute("DETACH DATABASE encrypted")
    finally:
        conn.close()
    os.replace(tmp, path)
    for suffix in ("-wal", "-shm", "-journal"):
        Path(str(path) + suffix).unlink(missing_ok=True)


def copy_encrypted_db(source: Any, destination: Path, key: bytes) -> None:
    """A consistent copy of the open encrypted database ``source`` into a new file, same key, 0600."""
    os.close(os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
    target = _keyed(destination, key)
    try:
        source.backup(target)
    finally:
        target.close()
