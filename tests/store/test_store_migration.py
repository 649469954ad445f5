"""Migration 0004 carries a revision-0003 database forward, on SQLite and on PostgreSQL.

Rows are written into the 0003 tables with plain SQL (as the 0003 code stored them), the database is
upgraded, and everything is read back through the store: headers, ids and signatures as given, each
device still fetching exactly its ciphertexts, log nodes, nonces (a replay is still refused), the
access log; and new writes after the upgrade get fresh numbers.
"""

from __future__ import annotations

import base64
import hashlib
import json
from importlib import resources

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text

from parley.errors import ReplayError
from parley.store.relay_store import _make_engine, database_url, open_store

NOW = "2026-03-01T10:00:00Z"
ALICE, BOB, EVE = "a1" * 16, "b2" * 16, "e3" * 16


def _upgrade_to(url: str, revision: str) -> None:
    engine = _make_engine(database_url(url))
    config = Config()
    config.set_main_option("script_location", str(resources.files("parley.store") / "migrations"))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    engine.dispose()


def _header(negotiation_id: str, seq: int) -> bytes:
    return json.dumps({"audience": {"parties": ["c4" * 16], "roles": None}, "author": ALICE, "ciphertexts": [],
                       "negotiation": negotiation_id, "prev": hashlib.sha256(b"%d" % seq).hexdigest(),
                       "seq": seq}, separators=(",", ":"), sort_keys=True).encode()


def _signature(seq: int) -> str:
    return base64.b64encode(hashlib.sha512(b"%d" % seq).digest()).decode()


def _fill_0003(url: str) -> dict:
    """Two negotiations in the 0003 tables; returns what the store must give back."""
    engine = _make_engine(database_url(url))
    expected: dict = {}
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO devices (device_key_id, party_id, certificate) VALUES (:d, 'p', '{}')"),
                     [{"d": d} for d in (ALICE, BOB, EVE)])
        for n, (nid, count) in enumerate((("n-first", 5), ("n-second", 3))):
            conn.execute(text("INSERT INTO negotiations VALUES (:n, :c, :s, :r, :k)"),
                         {"n": nid, "c": f"2026-03-0{n + 1}T10:00:00Z", "s": count, "r": b"\x07" * 32,
                          "k": f"checkpoint {nid}"})
            events = []
            for seq in range(count):
                header = _header(nid, seq)
                # One odd event: an id and a signature of another shape are kept as given.
                event_id = hashlib.sha256(header).hexdigest() if seq != 1 else f"legacy-{nid}"
                signature = _signature(seq) if seq != 1 else "not base64"
                conn.execute(text("INSERT INTO events VALUES (:n, :s, :i, :h, :g, :r)"),
                             {"n": nid, "s": seq, "i": event_id, "h": header, "g": signature, "r": NOW})
                blobs = {0: b"age for alice and bob %d" % seq, 1: b"age for bob %d" % seq}
                for idx, blob in blobs.items():
                    conn.execute(text("INSERT INTO ciphertexts VALUES (:n, :s, :x, :b)"),
                                 {"n": nid, "s": seq, "x": idx, "b": blob})
                readers = [(ALICE, 0), (BOB, 0), (BOB, 1)]
                conn.execute(text("INSERT INTO ciphertext_readers VALUES (:n, :d, :s, :x)"),
                             [{"n": nid, "d": d, "s": seq, "x": x} for d, x in readers])
                events.append((seq, event_id, header, signature, blobs))
            nodes = [(level, idx, hashlib.sha256(f"{nid}/{level}/{idx}".encode()).digest())
                     for level in range(3) for idx in range(count >> level)]
            conn.execute(text("INSERT INTO tlog_nodes VALUES (:n, :l, :i, :h)"),
                         [{"n": nid, "l": level, "i": idx, "h": digest} for level, idx, digest in nodes])
            conn.execute(text("INSERT INTO access_log (negotiation_id, device_key_id, seq, idx, fetched_at) "
                              "VALUES (:n, :d, 0, 0, :t)"), [{"n": nid, "d": ALICE, "t": NOW}])
            expected[nid] = {"events": events, "nodes": nodes}
        conn.execute(text("INSERT INTO request_nonces VALUES (:k, :n, :e)"),
                     [{"k": ALICE, "n": "nonce-1", "e": 10**12}, {"k": "odd key id", "n": "nonce-2", "e": 10**12}])
    engine.dispose()
    return expected


def test_upgrade_from_0003_carries_every_row_forward(db_url):
    _upgrade_to(db_url, "0003")
    expected = _fill_0003(db_url)
    store = open_store(db_url)  # migrates to the newest revision
    try:
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0004"
        for nid, want in expected.items():
            head = store.head(nid)
            assert head is not None and head.size == len(want["events"]) and head.checkpoint == f"checkpoint {nid}"
            every = store.events(nid, -1, 100, reader=None)
            assert [(e.seq, e.event_id, e.header, e.signature, dict(e.ciphertexts)) for e in every] == [
                (seq, event_id, header, signature, blobs) for seq, event_id, header, signature, blobs in want["events"]]
            # Read access survives the move of the reader lists into the ciphertext rows.
            alice = store.events(nid, -1, 100, reader=ALICE)
            bob = store.events(nid, -1, 100, reader=BOB)
            eve = store.events(nid, -1, 100, reader=EVE)
            assert [dict(e.ciphertexts) for e in alice] == [{0: blobs[0]} for *_, blobs in want["events"]]
            assert [dict(e.ciphertexts) for e in bob] == [blobs for *_, blobs in want["events"]]
            assert [dict(e.ciphertexts) for e in eve] == [{} for _ in want["events"]]
            for seq, event_id, *_ in want["events"]:
                assert store.seq_of_leaf(nid, event_id) == seq
            nodes = store.node_reader(nid).get_nodes([(level, idx) for level, idx, _ in want["nodes"]])
            assert nodes == {(level, idx): digest for level, idx, digest in want["nodes"]}
            assert [(e["device_key_id"], e["seq"], e["ciphertext"], e["fetched_at"]) for e in store.access_log(nid)] \
                == [(ALICE, 0, 0, NOW)]
        # The nonces came along: a replay is still refused, for an ordinary and an odd key id.
        with pytest.raises(ReplayError):
            store.remember_nonce(ALICE, "nonce-1", 10**12)
        with pytest.raises(ReplayError):
            store.remember_nonce("odd key id", "nonce-2", 10**12)
        store.remember_nonce(ALICE, "nonce-3", 10**12)

        # Writes after the upgrade: numbers continue after the copied ones (PostgreSQL sequences too).
        with store.write() as txn:
            txn.create_negotiation("n-third", NOW)
            header = _header("n-third", 0)
            txn.insert_events("n-third", [{"seq": 0, "event_id": hashlib.sha256(header).hexdigest(), "header": header,
                                           "signature": _signature(0), "received_at": NOW}],
                              [{"seq": 0, "idx": 0, "blob": b"age new"}],
                              [{"device_key_id": EVE, "seq": 0, "idx": 0}, {"device_key_id": "f4" * 16, "seq": 0,
                                                                           "idx": 0}])
            txn.put_nodes("n-third", [(0, 0, b"\x01" * 32)])
            txn.set_head("n-third", 1, b"\x01" * 32, "c")
        assert [dict(e.ciphertexts) for e in store.events("n-third", -1, 10, reader=EVE, log_access_at=NOW)] == [
            {0: b"age new"}]
        assert [dict(e.ciphertexts) for e in store.events("n-third", -1, 10, reader=ALICE)] == [{}]
        assert [e["device_key_id"] for e in store.access_log("n-third")] == [EVE]
        assert store.events("n-first", -1, 100, reader=None)[0].header == expected["n-first"]["events"][0][2]
        with store.engine.connect() as conn:
            numbers = conn.execute(text("SELECT negotiation_id, negotiation_no FROM negotiations")).all()
        assert len({n for _, n in numbers}) == 3
    finally:
        store.close()


def test_upgrade_of_an_empty_0003_database(db_url):
    _upgrade_to(db_url, "0003")
    store = open_store(db_url)
    try:
        assert set(store.count_rows().values()) == {0}
        with store.write() as txn:
            txn.create_negotiation("n-only", NOW)
        assert store.head("n-only").size == 0
    finally:
        store.close()
