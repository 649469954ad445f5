"""Passphrase-protected keystore: a JSON document inside an age passphrase file.

The file is a standard age file (scrypt recipient): ``age -d keystore.age``
opens it with the same passphrase. The passphrase comes from
``PARLEY_PASSPHRASE`` (for scripts) or an interactive prompt.
"""

from __future__ import annotations

import getpass
import json
import os
import time
from pathlib import Path
from typing import Any

import pyrage

from parley.errors import BadPassphraseError, ConfigError, InputError, KeystoreError

PASSPHRASE_ENV = "PARLEY_PASSPHRASE"  # noqa: S105 - the variable name, not a secret


def passphrase_from_env_or_prompt(*, confirm: bool = False, whose: str | None = None) -> str:
    """The keystore passphrase: ``PARLEY_PASSPHRASE`` if set, else asked on the terminal.

    ``whose`` names the keystore in the prompt ("Passphrase for Head of delegation (Ukraine): ").
    ``confirm`` (a new keystore) asks twice and applies ``check_passphrase_strength``.

    Raises:
        ConfigError: no passphrase in the environment and no terminal to ask on, or empty.
        InputError: a new passphrase too weak.
    """
    value = os.environ.get(PASSPHRASE_ENV)
    if value:
        if confirm:
            check_passphrase_strength(value, source=PASSPHRASE_ENV)
        return value
    if not os.isatty(0):
        raise ConfigError(
            "no passphrase: set PARLEY_PASSPHRASE or run from a terminal",
            hint="scripts set PARLEY_PASSPHRASE; people type it at the prompt",
        )
    if confirm:
        return _ask_new(f"New passphrase for {whose or 'your keystore'}: ")
    value = getpass.getpass(f"Passphrase for {whose}: " if whose else "Keystore passphrase: ")
    if not value:
        raise ConfigError("the passphrase must not be empty")
    return value


#: a new keystore's passphrase for another person (``party add-member``): never the caller's own
NEW_MEMBER_PASSPHRASE_ENV = "PARLEY_NEW_MEMBER_PASSPHRASE"  # noqa: S105 - the variable name, not a secret
MIN_PASSPHRASE_LENGTH = 12
#: an explicit, documented escape for throwaway profiles (the demo, tests): weak passphrases allowed
ALLOW_WEAK_ENV = "PARLEY_ALLOW_WEAK_PASSPHRASE"


def new_member_passphrase(whose: str) -> str:
    """The passphrase of a keystore written for someone else: ``PARLEY_NEW_MEMBER_PASSPHRASE`` or the
    terminal (asked twice), never ``PARLEY_PASSPHRASE`` (the administrator's own).

    Raises:
        ConfigError: neither set nor a terminal, or the two entries differ.  InputError: too weak.
    """
    value = os.environ.get(NEW_MEMBER_PASSPHRASE_ENV)
    if value:
        check_passphrase_strength(value, source=NEW_MEMBER_PASSPHRASE_ENV)
        return value
    if not os.isatty(0):
        raise ConfigError(f"no passphrase for the new keystore of {whose}",
                          hint=f"set {NEW_MEMBER_PASSPHRASE_ENV} or run from a terminal "
                               f"(your own {PASSPHRASE_ENV} is never given to another member)")
    return _ask_new(f"New passphrase for {whose}: ")


def _ask_new(prompt: str) -> str:
    value = getpass.getpass(prompt)
    if getpass.getpass("Repeat it: ") != value:
        raise ConfigError("the two passphrases differ; nothing was written")
    check_passphrase_strength(value)
    return value


def check_passphrase_strength(value: str, *, source: str = "the passphrase") -> None:
    """A new passphrase must hold at least 12 characters, not all alike (``PARLEY_ALLOW_WEAK_PASSPHRASE=1``
    lifts this for throwaway profiles such as the demo's).

    Raises:
        InputError: too short or too repetitive; the message says what is needed.
    """
    if os.environ.get(ALLOW_WEAK_ENV) == "1":
        if not value:
            raise InputError("the passphrase must not be empty")
        return
    if len(value) < MIN_PASSPHRASE_LENGTH or len(set(value)) < 5:
        raise InputError(f"{source} is too weak: use at least {MIN_PASSPHRASE_LENGTH} characters, not all alike",
                         hint="four or five random words make a strong passphrase that is easy to type")


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


#: how often to ask again when age refuses the work factor as too slow for this machine at the moment
BUSY_MACHINE_ATTEMPTS = 4
BUSY_MACHINE_PAUSE_SECONDS = 0.5


def _decrypt_passphrase(path: Path, data: bytes, passphrase: str) -> bytes:
    """age's scrypt decryption, told apart from a wrong passphrase when the machine is only busy.

    age measures the machine at every decryption and refuses a work factor far above what it measures
    ("excessive work"); on a machine loaded many times over, the keystore written when it was idle is
    refused with the right passphrase. That is asked again after a pause, and never reported as a wrong
    passphrase.

    Raises:
        BadPassphraseError: the passphrase is wrong or the file damaged.
        KeystoreError: the machine stayed too busy to derive the key.
    """
    for attempt in range(BUSY_MACHINE_ATTEMPTS):
        try:
            return pyrage.passphrase.decrypt(data, passphrase)
        except Exception as exc:  # pyrage.DecryptError, and ValueError for a malformed header
            if "excessive work" not in str(exc).lower():
                raise BadPassphraseError(f"cannot open keystore {path}: wrong passphrase or damaged file") from None
        if attempt + 1 < BUSY_MACHINE_ATTEMPTS:
            time.sleep(BUSY_MACHINE_PAUSE_SECONDS)
    raise KeystoreError(f"cannot open keystore {path}: this machine is too busy to derive its key now "
                        "(its key derivation would take far longer than usual)",
                        hint="try again when the machine is less loaded; the passphrase was not judged")


def load_keystore(path: Path, passphrase: str) -> dict[str, Any]:
    """Decrypt and parse a keystore.

    Raises:
        KeystoreError: the file is missing or not a keystore, or the machine too busy to derive its key.
        BadPassphraseError: the passphrase is wrong.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeystoreError(f"cannot read keystore {path}: {exc.strerror}") from None
    plain = _decrypt_passphrase(path, data, passphrase)
    try:
        secrets = json.loads(plain)
    except ValueError:
        raise KeystoreError(f"keystore {path} holds no valid JSON") from None
    if not isinstance(secrets, dict):
        raise KeystoreError(f"keystore {path} holds no key set")
    return secrets
