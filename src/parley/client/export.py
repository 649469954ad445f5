"""An encrypted export of one's own profile: the verified local copy of every negotiation, trust and settings.

``parley export FILE`` writes a tar archive of ``profile.json``, ``trust.json``, a consistent copy of
``cache.db`` (SQLCipher online backup, still encrypted) and, when present, the passphrase-protected ``keystore.age``,
encrypted with age to the member's own X25519 recipient. Only that member's age identity opens it
(``age -d -i identity FILE | tar x`` works too). The identity itself lives in the keystore: keep a
copy of the keystore (or your passphrase-protected profile) separately, or the export cannot be opened.
"""

from __future__ import annotations

import io
import os
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from parley.crypto.keys import EncryptionKey
from parley.crypto.seal import open_sealed, seal
from parley.errors import ConflictError, InputError

MEMBERS = ("profile.json", "trust.json", "keystore.age")


def export_profile(client: Any, destination: Path) -> dict[str, Any]:
    """Write the encrypted export of ``client``'s profile to ``destination`` (must not exist).

    Raises:
        ConflictError: the destination exists.
    """
    if destination.exists():
        raise ConflictError(f"{destination} exists: an export never overwrites a file")
    home: Path = client.profile.home
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name in MEMBERS:
            if (home / name).exists():
                tar.add(home / name, arcname=name)
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / "cache.db"
            client.cache.copy_to(copy)  # consistent even while the client syncs; encrypted as it is
            tar.add(copy, arcname="cache.db")
    blob = seal(buffer.getvalue(), [client.identity.encryption.recipient])
    fd = os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(blob)
    return {"file": str(destination), "bytes": len(blob), "negotiations": client.cache.negotiations(),
            "recipient": client.identity.encryption.recipient}


def read_export(path: Path, identity: EncryptionKey) -> dict[str, bytes]:
    """Decrypt an export: its files by name.

    Raises:
        VerificationError / InputError: not encrypted to ``identity``, or not an export.
    """
    plain = open_sealed(path.read_bytes(), identity)
    try:
        with tarfile.open(fileobj=io.BytesIO(plain), mode="r") as tar:
            out = {}
            for member in tar.getmembers():
                if not member.isfile() or member.name not in (*MEMBERS, "cache.db"):
                    raise InputError(f"unexpected entry {member.name!r} in the export")
                out[member.name] = tar.extractfile(member).read()
    except tarfile.TarError:
        raise InputError(f"{path} is not a parley export") from None
    return out


def unpack_export(path: Path, identity: EncryptionKey, home: Path) -> list[str]:
    """Decrypt an export into a new profile folder ``home``. Returns the file names written."""
    files = read_export(path, identity)
    if home.exists() and any(home.iterdir()):
        raise ConflictError(f"{home} is not empty")
    home.mkdir(parents=True, exist_ok=True)
    os.chmod(home, 0o700)
    for name, data in files.items():
        fd = os.open(home / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
    return sorted(files)
