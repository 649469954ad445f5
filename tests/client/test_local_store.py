"""The encrypted local store: a cache written in clear by an earlier version is encrypted in place; another
profile's key opens nothing."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from parley.client.cache import ClientCache
from parley.crypto.keys import EncryptionKey
from parley.crypto.local_store import local_store_key
from parley.errors import StorageError

SECRET = "memorandum: withdrawal of forces by 1 June"


def _store_one(cache: ClientCache) -> None:
    cache.store_sync("n-1", [(0, "e" * 64, {"header": {}}, {"type": "message", "content": {"text": SECRET}},
                              "2026-01-01T00:00:00Z")], [], (1, b"r" * 32, "note"))


def test_clear_cache_of_an_earlier_version_is_encrypted_in_place(tmp_path: Path) -> None:
    path = tmp_path / "cache.db"
    clear = ClientCache(path)
    _store_one(clear)
    clear.close()
    assert SECRET.encode() in b"".join(p.read_bytes() for p in tmp_path.iterdir())
    key = local_store_key(EncryptionKey.generate())
    cache = ClientCache(path, key)
    try:
        assert [b["content"]["text"] for _, _, b, _ in cache.events("n-1")] == [SECRET]
    finally:
        cache.close()
    assert SECRET.encode() not in b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_copied_cache_opened_with_another_profiles_key(tmp_path: Path) -> None:
    path = tmp_path / "cache.db"
    cache = ClientCache(path, local_store_key(EncryptionKey.generate()))
    _store_one(cache)
    cache.close()
    with pytest.raises(StorageError, match="cannot be opened with this profile's key"):
        ClientCache(path, local_store_key(EncryptionKey.generate()))
