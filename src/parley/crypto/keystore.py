"""Passphrase-protected keystore: a JSON document inside an age passphrase file.

The file is a standard age file (scrypt recipient): ``age -d keystore.age``
opens it with the same passphrase. The passphrase comes from
``PARLEY_PASSPHRASE`` (for scripts) or an interactive prompt.
"""

from __future__ import annotations

import getpass
import json
import os
from pathlib import Path
from typing import Any

import pyrage

from parley.errors import BadPassphraseError, ConfigError, KeystoreError

PASSPHRASE_ENV = "PARLEY_PASSPHRASE"  # noqa: S105 - the variable name, not a secret


def passphrase_from_env_or_prompt(*, confirm: bool = False) -> str:
    """The keystore passphrase: ``PARLEY_PASSPHRASE`` if set, else asked on the terminal.

    Raises:
        ConfigError: no passphrase in the environment and no terminal to ask on, or empty.
    """
    value = os.environ.get(PASSPHRASE_ENV)
    if value:
        return value
    if not os.isatty(0):
        raise ConfigError(
            "no passphrase: set PARLEY_PASSPHRASE or run from a terminal",
            hint="scripts set PARLEY_PASSPHRASE; people type it at the prompt",
        )
    value = getpass.getpass("Keystore passphrase: ")
    if confirm and getpass.getpass("Repeat passphrase: ") != value:
        raise ConfigError("the two passphrases differ")
    if not value:
        raise ConfigError("the passphrase must not be empty")
    return value


def save_keystore(path: Path, secrets: dict[str, Any], passphrase: str) -> None:
    """Encrypt ``secrets`` (JSON) with the passphrase and write it atomically, mode 0600.

    Raises:
        ConfigError: empty passphrase.
        KeystoreError: the file cannot be written.
    """
    if not passphrase:
        raise ConfigError("the passphrase must not be empty")
    data = pyrage.passphrase.encrypt(json.dumps(secrets, sort_keys=True).encode(), passphrase)
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise KeystoreError(f"cannot write keystore {path}: {exc.strerror}") from None


def load_keystore(path: Path, passphrase: str) -> dict[str, Any]:
    """Decrypt and parse a keystore.

    Raises:
        KeystoreError: the file is missing or not a keystore.
        BadPassphraseError: the passphrase is wrong.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeystoreError(f"cannot read keystore {path}: {exc.strerror}") from None
    try:
        plain = pyrage.passphrase.decrypt(data, passphrase)
    except Exception:
        raise BadPassphraseError(f"cannot open keystore {path}: wrong passphrase or damaged file") from None
    try:
        secrets = json.loads(plain)
    except ValueError:
        raise KeystoreError(f"keystore {path} holds no valid JSON") from None
    if not isinstance(secrets, dict):
        raise KeystoreError(f"keystore {path} holds no key set")
    return secrets
