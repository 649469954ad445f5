"""Backup and restore of the relay (online, consistent; SQLite and PostgreSQL), and the client's encrypted export."""

from __future__ import annotations

import secrets
import threading
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

from parley.cli.main import main
from parley.client.sdk import verify_log
from parley.client.transport import InProcessTransport
from parley.errors import ConflictError, InputError, VerificationError
from parley.protocol.state import NegotiationState
from parley.relay.app import Relay, create_app
from parley.relay.backup import backup, restore
from parley.relay.ingest import envelope_from_stored
from parley.settings import DEFAULT_LIMITS
from parley.store.engine import database_url
from parley.store.relay_store import RelayStore, open_store
from parley.tlog import merkle
from parley.tlog.checkpoint import checkpoint_origin, open_checkpoint
from parley.tlog.note import Verifier


@pytest.fixture
def spare_postgres(db_url: str):  # noqa: ANN201
    """A second empty PostgreSQL schema (restore target) when the test runs on PostgreSQL."""
    import os

    base = os.environ.get("PARLEY_TEST_DATABASE_URL")
    if not db_url.startswith("postgres") or not base:
        yield None
        return
    schema = "r_" + secrets.token_hex(6)
    admin = create_engine(database_url(base))
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    yield f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def verify_store_logs(store: RelayStore, vkey: str, relay_name: str) -> dict[str, int]:
    """Verify every negotiation of a relay database independently of the relay: rules, Merkle root, signature."""
    verifier = Verifier.from_vkey(vkey)
    sizes = {}
    with store.engine.connect() as conn:
        ids = [r[0] for r in conn.execute(text("SELECT negotiation_id FROM negotiations ORDER BY negotiation_id"))]
    for nid in ids:
        head = store.head(nid)
        rows = store.events(nid, -1, head.size + 10, reader=None)
        assert [r.seq for r in rows] == list(range(head.size)), f"{nid}: gap or half-written event"
        state, nodes = NegotiationState(nid), merkle.MemoryNodeStore()
        for row in rows:
            envelope = envelope_from_stored(row, DEFAULT_LIMITS)
            state.accept(envelope)  # every signature and rule again
            assert len(row.ciphertexts) == len(envelope.header.ciphertexts)  # no event without its ciphertexts
            nodes.put(merkle.append_nodes(row.seq, merkle.leaf_hash(envelope.leaf_bytes()), nodes))
        checkpoint = open_checkpoint(head.checkpoint, [verifier], expected_origin=checkpoint_origin(relay_name, nid))
        assert checkpoint.size == head.size
        assert checkpoint.root == (merkle.root_from_nodes(head.size, nodes) if head.size else merkle.EMPTY_ROOT)
        sizes[nid] = head.size
    return sizes


def test_relay_backup_while_posting_restores_a_consistent_verifiable_log(any_db_world, db_url, spare_postgres,
                                                                          tmp_path):
    world = any_db_world
    ukraine, russia = world.party("Ukraine"), world.party("Russian Federation")
    auditor = world.member(russia, "Auditor", "observer")
    nid = world.negotiation(ukraine, russia)
    other = world.negotiation(russia, ukraine)
    for i in range(5):
        ukraine.send_message(nid, f"before the backup {i}")
    russia.send_message(other, "the second negotiation")
    auditor.sync(nid)  # the auditor verified a prefix of what the backup will hold

    stop, posted = threading.Event(), []

    def keep_posting() -> None:  # the relay stays online and busy during the backup
        while not stop.is_set() and len(posted) < 60:
            posted.append(russia.send_message(nid, f"during the backup {len(posted)}").seq)

    writer = threading.Thread(target=keep_posting)
    writer.start()
    try:
        file = tmp_path / "relay-backup"
        data = tmp_path / "relay-data"  # the relay's folder: its key (never in a backup) is what names it
        data.mkdir()
        (data / "relay.key").write_text(world.relay.signer.skey() + "\n")
        relay_name = ["--name", world.relay.name]
        assert main(["--json", "relay", "backup", str(file), "--database", db_url, "--data", str(data),
                     *relay_name]) == 0
    finally:
        stop.set()
        writer.join(timeout=60)
    assert posted, "nothing was posted while the backup ran"
    assert main(["relay", "backup", str(file), "--database", db_url, "--data", str(data), *relay_name]) == 2  # never overwrites

    targets = [str(tmp_path / "restored.db")] + ([spare_postgres] if spare_postgres else [])
    for target in targets:
        assert main(["relay", "restore", str(file), "--database", target, "--data", str(data), *relay_name]) == 0
        restored = open_store(target)
        try:
            sizes = verify_store_logs(restored, world.relay.signer.vkey(), world.relay.name)
            assert set(sizes) == {nid, other}
            # a snapshot: a prefix of the live log, event for event
            live = world.store.events(nid, -1, sizes[nid], reader=None)
            assert [r.event_id for r in restored.events(nid, -1, sizes[nid], reader=None)] == \
                [r.event_id for r in live]
            assert restored.count_rows()["parties"] == 2
            # A restored relay with the same key serves the log; a member's client verifies it end to end.
            relay = Relay(restored, world.relay.signer, world.relay.name, clock=world.clock)
            transport = InProcessTransport(create_app(relay))
            try:
                auditor.conn.http._transport = transport
                assert verify_log(auditor, nid)["result"] == "verified"
                if target == targets[-1]:  # (then the auditor is ahead of the other restored copies)
                    auditor.send_message(nid, "posting on the restored relay works")
            finally:
                auditor.conn.http._transport = world.transport
                transport.shutdown()
                relay.ingestor.close()
        finally:
            restored.close()
        # restoring again into the same (now full) database is refused
        with pytest.raises(ConflictError, match="not empty"):
            restore(file, target)


def test_restore_refuses_a_truncated_or_foreign_file(world, tmp_path):
    ukraine = world.party("Ukraine")
    ukraine.list_parties()
    url = world.store.engine.url.render_as_string(hide_password=False)
    # the portable format (what PostgreSQL writes) from SQLite too, to damage it
    from parley.relay.backup import _backup_rows

    portable = tmp_path / "b.jsonl.gz"
    _backup_rows(world.store, portable, "0002")
    import gzip

    lines = gzip.open(portable, "rt").read().splitlines()
    truncated = tmp_path / "truncated.jsonl.gz"
    with gzip.open(truncated, "wt") as out:
        out.write("\n".join(lines[:-2]) + "\n")
    with pytest.raises(InputError, match="truncated|revision"):
        restore(truncated, str(tmp_path / "t1.db"))
    foreign = tmp_path / "foreign"
    foreign.write_bytes(b"not a backup")
    with pytest.raises(InputError, match="not a parley relay backup"):
        restore(foreign, str(tmp_path / "t2.db"))
    assert backup(url, tmp_path / "ok.db")["format"] == "sqlite"
    assert Path(tmp_path / "ok.db").read_bytes()[:16] == b"SQLite format 3\x00"


def test_client_export_is_encrypted_to_the_member_and_holds_its_negotiations(world, tmp_path):
    from parley.client.export import export_profile, read_export

    ukraine, russia = world.party("Ukraine"), world.party("Russian Federation")
    nid = world.negotiation(ukraine, russia)
    russia.send_message(nid, "a confidential line")
    ukraine.sync(nid)
    file = tmp_path / "ukraine.parley-export"
    summary = export_profile(ukraine, file)
    assert summary["negotiations"] == [nid]
    raw = file.read_bytes()
    assert raw.startswith(b"age-encryption.org/v1")
    assert b"confidential" not in raw and ukraine.profile.party.name.encode() not in raw
    # Russia's age identity cannot open it; Ukraine's can, and finds the negotiation and the verified log.
    with pytest.raises(VerificationError, match="not addressed to this key"):
        read_export(file, russia.identity.encryption)
    contents = read_export(file, ukraine.identity.encryption)
    assert {"profile.json", "trust.json", "cache.db"} <= set(contents)
    restored_home = tmp_path / "restored-home"
    from parley.client.export import unpack_export

    unpack_export(file, ukraine.identity.encryption, restored_home)
    from parley.client.cache import ClientCache
    from parley.crypto.local_store import local_store_key

    assert b"a confidential line" not in (restored_home / "cache.db").read_bytes()
    cache = ClientCache(restored_home / "cache.db", local_store_key(ukraine.identity.encryption))
    try:
        assert cache.negotiations() == [nid]
        texts = [b["content"]["text"] for _, _, b, _ in cache.events(nid) if b and b["type"] == "message"]
        assert texts == ["a confidential line"]
    finally:
        cache.close()
