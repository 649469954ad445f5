"""Keystores opened in this test process are not derived again (scrypt) at every command.

CLI and backup tests open the same few keystores dozens of times, and each opening costs age's scrypt (a
second or more on this kind of machine). The derivation itself, a wrong passphrase and a machine too busy for
it are tested on their own in ``tests/crypto``, where this is off; elsewhere an opening that succeeded is
remembered for the exact file bytes and passphrase, so another passphrase, another file or a rewritten
keystore still goes through age and fails or succeeds as it would. Processes the tests start (the demo, the
documentation sessions) derive every key for real.
"""

from __future__ import annotations

from pathlib import Path

import pyrage
import pytest

from parley.crypto import keystore

#: (age file bytes, passphrase) -> plaintext, for encryptions and decryptions that succeeded in this run
_OPENED: dict[tuple[bytes, str], bytes] = {}


def open_keystores_once(monkeypatch: pytest.MonkeyPatch) -> None:
    real_decrypt = keystore._decrypt_passphrase
    real_encrypt = pyrage.passphrase.encrypt

    def decrypt(path: Path, data: bytes, passphrase: str) -> bytes:
        if (data, passphrase) not in _OPENED:
            _OPENED[(data, passphrase)] = real_decrypt(path, data, passphrase)
        return _OPENED[(data, passphrase)]

    def encrypt(plaintext: bytes, passphrase: str) -> bytes:
        data = real_encrypt(plaintext, passphrase)
        _OPENED[(data, passphrase)] = plaintext
        return data

    monkeypatch.setattr(keystore, "_decrypt_passphrase", decrypt)
    monkeypatch.setattr(pyrage.passphrase, "encrypt", encrypt)
