"""Recovery files: a restore onto a new machine verifies everything from scratch against the pins; a
thief without the passphrase reads nothing; an altered backup and a relay that rewrote history are refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from malicious_relay import MaliciousRelay

from parley.client.backup import create_backup, read_backup, restore_backup, write_backup
from parley.client.cache import ClientCache
from parley.client.profile import Profile
from parley.client.sdk import Client
from parley.crypto.keys import EncryptionKey
from parley.crypto.local_store import local_store_key
from parley.crypto.recovery import generate_recovery_key
from parley.errors import BadPassphraseError, ConflictError, ConsistencyError, InputError, VerificationError

PASSPHRASE = "correct horse battery staple"  # noqa: S105 - a test passphrase
SECRET = "fallback line: withdrawal by 1 June"


def _backed_up(trio, tmp_path: Path, **protect: str) -> Path:
    trio.ukraine.send_message(trio.nid, SECRET)
    trio.russia.send_message(trio.nid, "noted")
    trio.ukraine.sync(trio.nid)
    path = tmp_path / "ukraine.backup"
    create_backup(trio.ukraine, path, **(protect or {"passphrase": PASSPHRASE}))
    return path


def _restore(path: Path, home: Path, world, **kwargs) -> dict:  # noqa: ANN001, ANN003
    kwargs.setdefault("passphrase", PASSPHRASE)
    world.clock.now = datetime.now(UTC).replace(microsecond=0)  # scrypt took seconds: keep the relay's clock true
    report = restore_backup(path, home, new_passphrase=None, transport=world.transport, clock=world.clock, **kwargs)
    return report


def _open_restored(path: Path, home: Path, world, **secret: str) -> Client:  # noqa: ANN001, ANN003
    files = read_backup(path, **(secret or {"passphrase": PASSPHRASE}))
    client = Client(Profile.load_unlocked(home, json.loads(files["secrets.json"])), transport=world.transport,
                    clock=world.clock)
    world.clients.append(client)
    return client


def test_restore_on_a_new_machine_verifies_the_log_and_reads_it(trio, world, tmp_path: Path) -> None:  # noqa: ANN001
    path = _backed_up(trio, tmp_path)
    home = tmp_path / "new-machine" / "profile"
    report = _restore(path, home, world)
    assert report["relay"] == "verified"
    assert report["negotiations"][trio.nid]["size"] == trio.ukraine.cache.checkpoint(trio.nid)[0]
    restored = _open_restored(path, home, world)
    assert [m["content"]["text"] for m in restored.messages(trio.nid)] == [SECRET, "noted"]
    assert restored.profile.trust.keys() == trio.ukraine.profile.trust.keys()
    restored.send_message(trio.nid, "back on a new laptop")
    trio.russia.sync(trio.nid)
    assert trio.russia.messages(trio.nid)[-1]["content"]["text"] == "back on a new laptop"


def test_restore_with_a_recovery_key(trio, world, tmp_path: Path) -> None:  # noqa: ANN001
    key = generate_recovery_key()
    path = _backed_up(trio, tmp_path, recovery_key=key)
    with pytest.raises(InputError, match="recovery key"):
        _restore(path, tmp_path / "a", world)
    with pytest.raises(BadPassphraseError):
        _restore(path, tmp_path / "b", world, passphrase=None, recovery_key=generate_recovery_key())
    assert not (tmp_path / "b").exists()
    _restore(path, tmp_path / "c", world, passphrase=None, recovery_key=key)
    restored = _open_restored(path, tmp_path / "c", world, recovery_key=key)
    assert restored.messages(trio.nid)[0]["content"]["text"] == SECRET


def test_restore_refuses_to_overwrite_an_existing_profile(trio, world, tmp_path: Path) -> None:  # noqa: ANN001
    path = _backed_up(trio, tmp_path)
    home = trio.russia.profile.home
    before = {p.name: p.read_bytes() for p in home.iterdir() if p.is_file()}
    with pytest.raises(ConflictError, match="never overwrites"):
        _restore(path, home, world)
    assert {p.name: p.read_bytes() for p in home.iterdir() if p.is_file()} == before


def test_thief_with_the_backup_file_but_not_its_passphrase_reads_nothing(trio, world,  # noqa: ANN001
                                                                        tmp_path: Path) -> None:
    path = _backed_up(trio, tmp_path)
    blob = path.read_bytes()
    identity = trio.ukraine.identity
    for secret in (SECRET, identity.encryption.identity, identity.signing.seed_b64(), trio.ukraine.profile.member,
                   trio.nid):
        assert secret.encode() not in blob
    with pytest.raises(BadPassphraseError):
        read_backup(path, passphrase="a guess of the passphrase")
    with pytest.raises(BadPassphraseError):
        _restore(path, tmp_path / "thief", world, passphrase="a guess of the passphrase")
    assert not (tmp_path / "thief").exists()


def _edit_cache(files: dict[str, bytes], tmp_path: Path, sql: str, *args: object) -> dict[str, bytes]:
    secrets = json.loads(files["secrets.json"])
    db = tmp_path / "edit.db"
    db.write_bytes(files["cache.db"])
    cache = ClientCache(db, local_store_key(EncryptionKey(secrets["age_identity"])))
    with cache.db:
        cache.db.execute(sql, args)
    cache.close()
    return {**files, "cache.db": db.read_bytes()}


def test_backup_altered_by_someone_with_its_passphrase_is_refused(trio, world, tmp_path: Path) -> None:  # noqa: ANN001
    key = generate_recovery_key()  # the attacker knows the secret (a recovery key here: no scrypt to wait for)
    path = _backed_up(trio, tmp_path, recovery_key=key)
    files = read_backup(path, recovery_key=key)
    # An event dropped from the local copy: the rest no longer hashes to the pinned checkpoint.
    last = trio.ukraine.cache.last_seq(trio.nid)
    dropped = _edit_cache(files, tmp_path, "DELETE FROM events WHERE seq=?", last)
    altered = tmp_path / "altered.backup"
    write_backup(dropped, altered, recovery_key=key)
    with pytest.raises(VerificationError):
        _restore(altered, tmp_path / "one", world, passphrase=None, recovery_key=key)
    assert not (tmp_path / "one").exists()
    # A decrypted body rewritten in the copy: bodies are decrypted again from the signed ciphertexts.
    rewritten = _edit_cache(files, tmp_path, "UPDATE events SET body=replace(body, 'June', 'July')")
    altered.unlink()
    write_backup(rewritten, altered, recovery_key=key)
    _restore(altered, tmp_path / "two", world, passphrase=None, recovery_key=key)
    restored = _open_restored(altered, tmp_path / "two", world, recovery_key=key)
    assert restored.messages(trio.nid)[0]["content"]["text"] == SECRET


def test_relay_rewriting_history_since_the_backup_is_caught_on_restore(trio, world,  # noqa: ANN001
                                                                      tmp_path: Path) -> None:
    key = generate_recovery_key()
    path = _backed_up(trio, tmp_path, recovery_key=key)
    secret_event = next(e for e in trio.ukraine.timeline(trio.nid)
                        if e["type"] == "message" and e["content"]["text"] == SECRET)
    evil = MaliciousRelay(world.transport, world.relay, reader=trio.ukraine.identity.device_key_id)
    target = evil.full_log(trio.nid)[secret_event["seq"]]["event"]["header"]

    def without_the_memo(items: list) -> list:
        return [item for item in items if item["event"]["header"] != target]

    evil.forge = without_the_memo
    home = tmp_path / "restored"
    world.clock.now = datetime.now(UTC).replace(microsecond=0)
    with pytest.raises(ConsistencyError):  # rolled back or forked, whichever the relay tries
        restore_backup(path, home, recovery_key=key, new_passphrase=None, transport=evil, clock=world.clock)
    assert "forge" in evil.fired
