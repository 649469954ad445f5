"""Migrations 0004 and 0005 carry older databases forward, on SQLite and on PostgreSQL.

0004: rows are written into the 0003 tables with plain SQL (as the 0003 code stored them), the database
is upgraded, and everything is read back through the store: headers, ids and signatures as given, each
device still fetching exactly its ciphertexts, log nodes, nonces (a replay is still refused), the
access log; and new writes after the upgrade get fresh numbers.

0005: a real Merkle log is written into the 0004 tables (level-0 nodes in ``tlog_nodes``); roots,
inclusion and consistency proofs taken from those rows are byte-identical to the ones the store serves
after the upgrade (level 0 from the event rows), they verify, and the log keeps growing consistently.
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
from parley.store import codec
from parley.store.engine import database_url, make_engine
from parley.store.relay_store import open_store
from parley.tlog import merkle

NOW = "2026-03-01T10:00:00Z"
HEAD = "0007"
ALICE, BOB, EVE = "a1" * 16, "b2" * 16, "e3" * 16


def _upgrade_to(url: str, revision: str) -> None:
    engine = make_engine(database_url(url))
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
    engine = make_engine(database_url(url))
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
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == HEAD
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
                                           "signature": _signature(0), "received_at": NOW,
                                           "leaf_hash": b"\x01" * 32}],
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


# ---- 0004 -> 0005: level-0 nodes move into the event rows ------------------------------------------------
# One log longer than the migration's batch of 2,000 event numbers, one short, one empty negotiation.
SIZES = {"n-long": 2050, "n-short": 5, "n-empty": 0}


def _leaf_data(nid: str, seq: int) -> bytes:
    return b"%s/%d" % (nid.encode(), seq)


def _leaf(nid: str, seq: int) -> bytes:
    return merkle.leaf_hash(_leaf_data(nid, seq))


def _fill_0004(url: str, *, drop_leaf: tuple[str, int] | None = None) -> dict[str, merkle.MemoryNodeStore]:
    """The 0004 tables as the 0004 relay wrote them: events, every log node (level 0 too), heads.
    Returns each negotiation's nodes as read back from ``tlog_nodes`` before the upgrade."""
    engine = make_engine(database_url(url))
    stored: dict[str, merkle.MemoryNodeStore] = {}
    with engine.begin() as conn:
        for number, (nid, size) in enumerate(SIZES.items(), start=1):
            leaves = [_leaf(nid, seq) for seq in range(size)]
            nodes = merkle.append_many(0, leaves, merkle.MemoryNodeStore())
            memory = merkle.MemoryNodeStore()
            memory.put(nodes)
            root = merkle.root_from_nodes(size, memory) if size else merkle.EMPTY_ROOT
            conn.execute(text("INSERT INTO negotiations (negotiation_no, negotiation_id, created_at, size, root, "
                              "checkpoint) VALUES (:no, :n, :c, :s, :r, 'c')"),
                         {"no": number, "n": nid, "c": NOW, "s": size, "r": root})
            if size:
                conn.execute(text("INSERT INTO events (negotiation_no, seq, event_id, header, signature, received_at) "
                                  "VALUES (:no, :s, :i, :h, :g, :r)"),
                             [{"no": number, "s": seq, "i": hashlib.sha256(leaves[seq]).digest(),
                               "h": codec.pack_header(_header(nid, seq)), "g": codec.pack_signature(_signature(seq)),
                               "r": NOW} for seq in range(size)])
                rows = [{"no": number, "l": level, "i": idx, "h": digest} for level, idx, digest in nodes
                        if (nid, idx) != drop_leaf or level != 0]
                conn.execute(text("INSERT INTO tlog_nodes VALUES (:no, :l, :i, :h)"), rows)
            before = merkle.MemoryNodeStore()
            before.put((r.level, r.idx, bytes(r.hash)) for r in conn.execute(
                text("SELECT level, idx, hash FROM tlog_nodes WHERE negotiation_no = :no"), {"no": number}))
            stored[nid] = before
    engine.dispose()
    return stored


def _proofs(size: int, reader: merkle.NodeReader) -> dict:
    """Roots, inclusion and consistency proofs over a spread of sizes and indexes."""
    out: dict = {}
    sizes = sorted({1, 2, 3, 4, 5, 7, 8, 1023, 1024, 1025, 1999, 2000, 2001, size} & set(range(1, size + 1)))
    for n in sizes:
        out["root", n] = merkle.root_from_nodes(n, reader)
        for index in sorted({0, 1, n // 2, n - 2, n - 1} & set(range(n))):
            out["inclusion", index, n] = merkle.inclusion_proof(index, n, reader)
        for m in sizes:
            if m < n:
                out["consistency", m, n] = merkle.consistency_proof(m, n, reader)
    return out


def test_upgrade_from_0004_serves_identical_roots_and_proofs(db_url):
    _upgrade_to(db_url, "0004")
    stored = _fill_0004(db_url)
    before = {nid: _proofs(size, stored[nid]) for nid, size in SIZES.items()}
    node_rows = sum(len(nodes) for nodes in stored.values())
    store = open_store(db_url)  # migrates to the newest revision
    try:
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == HEAD
            assert conn.execute(text("SELECT COUNT(*) FROM tlog_nodes WHERE level = 0")).scalar() == 0
            assert conn.execute(text("SELECT COUNT(*) FROM tlog_nodes")).scalar() == node_rows - sum(SIZES.values())
            leaves = {(r.negotiation_id, r.seq): bytes(r.leaf_hash) for r in conn.execute(text(
                "SELECT n.negotiation_id, e.seq, e.leaf_hash FROM events e "
                "JOIN negotiations n ON n.negotiation_no = e.negotiation_no"))}
        assert leaves == {(nid, seq): _leaf(nid, seq) for nid, size in SIZES.items() for seq in range(size)}
        for nid, size in SIZES.items():
            reader = store.node_reader(nid)
            after = _proofs(size, reader)
            assert after == before[nid]  # byte for byte
            if size:
                assert merkle.root_from_nodes(size, reader) == store.head(nid).root
            for key, proof in after.items():
                if key[0] == "inclusion":
                    _, index, n = key
                    merkle.verify_inclusion(_leaf(nid, index), index, n, proof, after["root", n])
                elif key[0] == "consistency":
                    _, m, n = key
                    merkle.verify_consistency(m, n, proof, after["root", m], after["root", n])
        # The log keeps growing on the migrated rows: new leaves, one consistency proof back to the old head.
        nid, old = "n-long", SIZES["n-long"]
        new_leaves = [_leaf(nid, seq) for seq in range(old, old + 30)]
        with store.write() as txn:
            txn.insert_events(nid, [{"seq": seq, "event_id": hashlib.sha256(leaf).hexdigest(),
                                     "header": _header(nid, seq), "signature": _signature(seq), "received_at": NOW,
                                     "leaf_hash": leaf} for seq, leaf in enumerate(new_leaves, start=old)], [], [])
            txn.put_nodes(nid, merkle.append_many(old, new_leaves, txn.node_reader(nid)))
        reader = store.node_reader(nid)
        grown = merkle.root_hash([_leaf_data(nid, seq) for seq in range(old + 30)])
        assert merkle.root_from_nodes(old + 30, reader) == grown
        merkle.verify_consistency(old, old + 30, merkle.consistency_proof(old, old + 30, reader),
                                  before[nid]["root", old], grown)
        assert merkle.inclusion_proof(old - 1, old, reader) == before[nid]["inclusion", old - 1, old]
    finally:
        store.close()


@pytest.mark.parametrize("drop_leaf", [("n-long", 2000), ("n-short", 4)])
def test_upgrade_from_0004_refuses_an_event_without_its_leaf_node(db_url, drop_leaf):
    _upgrade_to(db_url, "0004")
    _fill_0004(db_url, drop_leaf=drop_leaf)
    with pytest.raises(RuntimeError, match="without their level-0 log node"):
        open_store(db_url)
    engine = make_engine(database_url(db_url))
    try:
        with engine.connect() as conn:  # nothing changed: still revision 0004, level-0 nodes in place
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0004"
            assert conn.execute(text("SELECT COUNT(*) FROM tlog_nodes WHERE level = 0")).scalar() == \
                sum(SIZES.values()) - 1
    finally:
        engine.dispose()
