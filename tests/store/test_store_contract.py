"""The relay's storage contract: one suite, run on SQLite and on PostgreSQL (the ``store`` fixture).

The store takes opaque bytes; validation lives in the protocol core. So the rows
here are synthetic: what matters is what the store keeps, hands out, locks and
rolls back.
"""

from __future__ import annotations

import hashlib
import json
import secrets

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, event

from parley.errors import AuthError, ConflictError, InputError, NotFoundError, ReplayError, StorageError
from parley.store.relay_store import RelayStore
from parley.store.schema import metadata

NOW = "2026-03-01T10:00:00Z"
LATER = "2026-03-01T11:00:00Z"


def _id(n: int = 32) -> str:
    return secrets.token_hex(n // 2)


def _enrol(store: RelayStore, name: str = "Ukraine", devices: int = 1) -> tuple[str, list[str]]:
    token = store.create_enrol_token(name, NOW)
    party_id = _id(32)
    device_ids = [_id(32) for _ in range(devices)]
    store.enrol_party(token, party_id, name, json.dumps({"name": name, "party_id": party_id}),
                      [(d, json.dumps({"device": d})) for d in device_ids], NOW)
    return party_id, device_ids


def _event_rows(start: int, count: int) -> list[dict]:
    rows = []
    for seq in range(start, start + count):
        header = json.dumps({"seq": seq, "nonce": _id(32)}).encode()
        rows.append({"seq": seq, "event_id": hashlib.sha256(header).hexdigest(), "header": header,
                     "signature": "sig" + str(seq), "received_at": NOW,
                     "leaf_hash": hashlib.sha256(b"\x00" + header).digest()})
    return rows


def _new_negotiation(store: RelayStore, negotiation_id: str | None = None) -> str:
    negotiation_id = negotiation_id or "n-" + _id(16)
    with store.write() as txn:
        assert txn.lock_head(negotiation_id) is None
        txn.create_negotiation(negotiation_id, NOW)
    return negotiation_id


# ---- enrolment tokens ----------------------------------------------------------------------------------
def test_enrol_token_admits_one_party_once(store):
    token = store.create_enrol_token("Ukraine", NOW)
    store.enrol_party(token, "p" * 32, "Ukraine", "{}", [("d" * 32, "{}")], NOW)
    before = store.count_rows()
    with pytest.raises(AuthError):
        store.enrol_party(token, "q" * 32, "Ukraine", "{}", [("e" * 32, "{}")], NOW)
    assert store.count_rows() == before
    assert store.get_party("q" * 32) is None
    assert store.get_device("e" * 32) is None


def test_unknown_enrol_token_is_refused(store):
    before = store.count_rows()
    with pytest.raises(AuthError):
        store.enrol_party("not-a-token", "p" * 32, "Ukraine", "{}", [("d" * 32, "{}")], NOW)
    assert store.count_rows() == before


def test_enrol_token_for_another_name_stores_nothing_and_stays_usable(store):
    token = store.create_enrol_token("Ukraine", NOW)
    before = store.count_rows()
    with pytest.raises(InputError):
        store.enrol_party(token, "p" * 32, "Russian Federation", "{}", [("d" * 32, "{}")], NOW)
    assert store.count_rows() == before
    assert store.get_party("p" * 32) is None and store.get_device("d" * 32) is None
    # The failed attempt rolled back the token's consumption too: the invited party can still enrol.
    store.enrol_party(token, "p" * 32, "Ukraine", "{}", [("d" * 32, "{}")], NOW)
    assert store.get_party("p" * 32) is not None


def test_enrolment_with_a_known_device_is_a_conflict_and_keeps_the_token(store):
    _, (device,) = _enrol(store, "Ukraine")
    token = store.create_enrol_token("Türkiye", NOW)
    before = store.count_rows()
    with pytest.raises(ConflictError):
        store.enrol_party(token, "t" * 32, "Türkiye", "{}", [(device, "{}")], NOW)
    assert store.count_rows() == before
    store.enrol_party(token, "t" * 32, "Türkiye", "{}", [("f" * 32, "{}")], NOW)


# ---- directory -----------------------------------------------------------------------------------------
def test_devices_add_get_revoke(store):
    party_id, (first,) = _enrol(store, "Ukraine")
    second = _id(32)
    store.add_device(second, party_id, '{"cert": 2}')
    row = store.get_device(second)
    assert row is not None
    assert (row.device_key_id, row.party_id, row.certificate, row.revoked_at) == (second, party_id, '{"cert": 2}', None)
    with pytest.raises(ConflictError):
        store.add_device(second, party_id, '{"cert": "again"}')
    assert store.get_device(second).certificate == '{"cert": 2}'

    store.revoke_device(second, LATER, '{"revocation": 1}')
    assert store.get_device(second).revoked_at == LATER
    assert store.get_device(first).revoked_at is None
    with pytest.raises(NotFoundError):
        store.revoke_device(_id(32), LATER, "{}")
    assert store.get_device(_id(32)) is None

    record, devices = store.get_party(party_id)
    assert json.loads(record)["name"] == "Ukraine"
    assert sorted(d.device_key_id for d in devices) == sorted([first, second])
    assert {d.device_key_id: d.revoked_at for d in devices}[second] == LATER
    assert store.get_party(_id(32)) is None


def test_list_parties_orders_by_name(store):
    _enrol(store, "Ukraine")
    _enrol(store, "Russian Federation")
    _enrol(store, "Türkiye")
    assert [json.loads(r)["name"] for r in store.list_parties()] == ["Russian Federation", "Türkiye", "Ukraine"]


# ---- request nonces ------------------------------------------------------------------------------------
def test_nonce_replay_is_refused(store):
    store.remember_nonce("k" * 32, "nonce-1", 1_000)
    with pytest.raises(ReplayError):
        store.remember_nonce("k" * 32, "nonce-1", 2_000)
    # Another key may use the same nonce; the same key another nonce.
    store.remember_nonce("j" * 32, "nonce-1", 1_000)
    store.remember_nonce("k" * 32, "nonce-2", 1_000)
    assert store.count_rows()["request_nonces"] == 3


def test_purge_removes_only_expired_nonces(store):
    store.remember_nonce("k" * 32, "old", 100)
    store.remember_nonce("k" * 32, "edge", 200)
    store.remember_nonce("k" * 32, "new", 300)
    assert store.purge_nonces(200) == 1
    assert store.count_rows()["request_nonces"] == 2
    with pytest.raises(ReplayError):
        store.remember_nonce("k" * 32, "edge", 400)
    # A purged nonce is forgotten (its signature has long expired, so the age check refuses it instead).
    store.remember_nonce("k" * 32, "old", 400)
    assert store.purge_nonces(10_000) == 3
    assert store.count_rows()["request_nonces"] == 0


# ---- the write transaction -----------------------------------------------------------------------------
def test_write_transaction_appends_events_nodes_and_head(store):
    negotiation_id = _new_negotiation(store)
    head = store.head(negotiation_id)
    assert head is not None and head.size == 0 and head.checkpoint == ""
    rows = _event_rows(0, 3)
    blobs = [{"seq": r["seq"], "idx": 0, "blob": b"age-" + bytes([r["seq"]]) * 10} for r in rows]
    readers = [{"device_key_id": "a" * 32, "seq": r["seq"], "idx": 0} for r in rows]
    leaves = [r["leaf_hash"] for r in rows]
    nodes = [(0, 0, leaves[0]), (0, 1, leaves[1]), (1, 0, b"\x03" * 32), (0, 2, leaves[2])]
    with store.write() as txn:
        locked = txn.lock_head(negotiation_id)
        assert locked is not None and locked.size == 0
        txn.insert_events(negotiation_id, rows, blobs, readers)
        txn.add_negotiation_parties(negotiation_id, ["p1", "p2"])
        txn.put_nodes(negotiation_id, nodes)
        txn.set_head(negotiation_id, 3, b"\x09" * 32, "checkpoint-3")
        # Inside the transaction its own writes are visible.
        assert [e.seq for e in txn.events_after(negotiation_id, -1)] == [0, 1, 2]
        assert txn.node_reader(negotiation_id).get_nodes([(1, 0)]) == {(1, 0): b"\x03" * 32}
    head = store.head(negotiation_id)
    assert (head.size, head.root, head.checkpoint) == (3, b"\x09" * 32, "checkpoint-3")
    listed = store.events(negotiation_id, -1, 100, reader=None)
    assert [(e.seq, e.event_id, e.header, e.signature) for e in listed] == [
        (r["seq"], r["event_id"], r["header"], r["signature"]) for r in rows]
    assert [e.ciphertexts for e in listed] == [{0: b["blob"]} for b in blobs]
    assert store.seq_of_leaf(negotiation_id, rows[1]["event_id"]) == 1
    assert store.seq_of_leaf(negotiation_id, "0" * 64) is None
    assert store.node_reader(negotiation_id).get_nodes([(0, 2), (1, 0)]) == {(0, 2): leaves[2],
                                                                             (1, 0): b"\x03" * 32}
    # Level 0 is kept in the event rows, levels >= 1 in tlog_nodes.
    assert store.count_rows()["tlog_nodes"] == 1
    # Paging: after and limit.
    assert [e.seq for e in store.events(negotiation_id, 0, 1, reader=None)] == [1]
    assert store.events(negotiation_id, 2, 100, reader=None) == []
    assert store.events("n-unknown-negotiation", -1, 100, reader=None) == []


def test_write_rolls_back_everything_on_exception(store):
    negotiation_id = _new_negotiation(store)
    before = store.count_rows()
    head_before = store.head(negotiation_id)

    class Boom(Exception):
        pass

    with pytest.raises(Boom), store.write() as txn:
        txn.lock_head(negotiation_id)
        txn.create_negotiation("n-" + _id(16), NOW)
        txn.insert_events(negotiation_id, _event_rows(0, 2), [{"seq": 0, "idx": 0, "blob": b"x"}],
                          [{"device_key_id": "a" * 32, "seq": 0, "idx": 0}])
        txn.add_negotiation_parties(negotiation_id, ["p1"])
        txn.put_nodes(negotiation_id, [(1, 0, b"\x01" * 32)])
        txn.set_head(negotiation_id, 2, b"\x02" * 32, "checkpoint-2")
        raise Boom
    assert store.count_rows() == before
    assert store.head(negotiation_id) == head_before
    assert store.negotiations_of_party("p1") == []


def test_duplicate_event_is_a_conflict_and_rolls_back(store):
    negotiation_id = _new_negotiation(store)
    with store.write() as txn:
        txn.insert_events(negotiation_id, _event_rows(0, 1), [], [])
        txn.set_head(negotiation_id, 1, b"\x01" * 32, "c1")
    before = store.count_rows()
    with pytest.raises(ConflictError), store.write() as txn:
        txn.set_head(negotiation_id, 2, b"\x02" * 32, "c2")
        txn.insert_events(negotiation_id, _event_rows(0, 1), [], [])  # seq 0 again
    assert store.count_rows() == before
    assert store.head(negotiation_id).size == 1
    with pytest.raises(ConflictError), store.write() as txn:
        txn.create_negotiation(negotiation_id, NOW)


# ---- reads with access control ------------------------------------------------------------------------
def test_events_hand_out_only_the_ciphertexts_the_reader_may_fetch(store):
    negotiation_id = _new_negotiation(store)
    alice, bob, eve = "a" * 32, "b" * 32, "e" * 32
    rows = _event_rows(0, 3)
    blobs = [
        {"seq": 0, "idx": 0, "blob": b"for alice and bob"},
        {"seq": 1, "idx": 0, "blob": b"copy for alice"},
        {"seq": 1, "idx": 1, "blob": b"copy for bob"},
        {"seq": 2, "idx": 0, "blob": b"for bob only"},
    ]
    readers = [
        {"device_key_id": alice, "seq": 0, "idx": 0}, {"device_key_id": bob, "seq": 0, "idx": 0},
        {"device_key_id": alice, "seq": 1, "idx": 0}, {"device_key_id": bob, "seq": 1, "idx": 1},
        {"device_key_id": bob, "seq": 2, "idx": 0},
    ]
    with store.write() as txn:
        txn.insert_events(negotiation_id, rows, blobs, readers)
        txn.set_head(negotiation_id, 3, b"\x00" * 32, "c3")

    def fetched(reader, **kwargs):
        return [dict(e.ciphertexts) for e in store.events(negotiation_id, -1, 100, reader=reader, **kwargs)]

    assert fetched(alice) == [{0: b"for alice and bob"}, {0: b"copy for alice"}, {}]
    assert fetched(bob) == [{0: b"for alice and bob"}, {1: b"copy for bob"}, {0: b"for bob only"}]
    # A stranger still sees every header (the log stays verifiable), and no ciphertext.
    assert fetched(eve) == [{}, {}, {}]
    assert [e.seq for e in store.events(negotiation_id, -1, 100, reader=eve)] == [0, 1, 2]
    assert store.access_log(negotiation_id) == []  # nothing logged unless asked

    assert fetched(alice, log_access_at=LATER) == [{0: b"for alice and bob"}, {0: b"copy for alice"}, {}]
    fetched(eve, log_access_at=LATER)  # nothing handed out, nothing logged
    entries = store.access_log(negotiation_id)
    assert sorted((e["device_key_id"], e["seq"], e["ciphertext"], e["fetched_at"]) for e in entries) == [
        (alice, 0, 0, LATER), (alice, 1, 0, LATER)]
    assert entries[0]["id"] < entries[1]["id"]
    # Paging the access log by id.
    assert store.access_log(negotiation_id, after_id=entries[0]["id"]) == entries[1:]
    assert store.access_log("n-another-negotiation") == []
    # A page after seq 0 logs only what it handed out.
    store.events(negotiation_id, 0, 100, reader=bob, log_access_at=LATER)
    assert sorted((e["device_key_id"], e["seq"], e["ciphertext"]) for e in store.access_log(negotiation_id)
                  if e["device_key_id"] == bob) == [(bob, 1, 1), (bob, 2, 0)]


def test_a_listing_stores_its_nonce_with_its_access_log_and_a_replay_logs_nothing(store):
    negotiation_id = _new_negotiation(store)
    alice = "a" * 32
    with store.write() as txn:
        txn.insert_events(negotiation_id, _event_rows(0, 2), [{"seq": 0, "idx": 0, "blob": b"for alice"}],
                          [{"device_key_id": alice, "seq": 0, "idx": 0}])
        txn.set_head(negotiation_id, 2, b"\x00" * 32, "c2")
    nonce = (alice, "n-listing-1", 2**40)
    page = store.events(negotiation_id, -1, 100, reader=alice, log_access_at=LATER, nonce=nonce)
    assert [dict(e.ciphertexts) for e in page] == [{0: b"for alice"}, {}]
    assert len(store.access_log(negotiation_id)) == 1
    with pytest.raises(ReplayError):
        store.events(negotiation_id, -1, 100, reader=alice, log_access_at=LATER, nonce=nonce)
    assert len(store.access_log(negotiation_id)) == 1
    with pytest.raises(ReplayError):  # the nonce row is the same one request authentication uses
        store.remember_nonce(*nonce)
    # A listing of an unknown negotiation still stores its nonce (the request is spent).
    assert store.events("n-unknown-negotiation", -1, 10, reader=alice, nonce=(alice, "n-listing-2", 2**40)) == []
    with pytest.raises(ReplayError):
        store.remember_nonce(alice, "n-listing-2", 2**40)


def test_a_page_read_failing_in_the_driver_is_a_storage_error(store):
    negotiation_id = _new_negotiation(store)
    with store.write() as txn:
        txn.insert_events(negotiation_id, _event_rows(0, 1), [], [])
        txn.set_head(negotiation_id, 1, b"\x00" * 32, "c1")
    store.events(negotiation_id, -1, 10, reader=None)  # numbers cached: the next call goes to the page read
    with store.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE ciphertexts RENAME TO ciphertexts_gone")
    try:
        with pytest.raises(StorageError, match="relay database unavailable"):
            store.events(negotiation_id, -1, 10, reader=None)
    finally:
        with store.engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE ciphertexts_gone RENAME TO ciphertexts")


def test_sql_node_reader_answers_in_one_query(store):
    negotiation_id = _new_negotiation(store)
    rows = _event_rows(0, 20)
    nodes = [(0, r["seq"], r["leaf_hash"]) for r in rows] + [
        (level, idx, hashlib.sha256(f"{level}/{idx}".encode()).digest()) for level in range(1, 4)
        for idx in range(20 >> level)]
    with store.write() as txn:
        txn.insert_events(negotiation_id, rows, [], [])
        txn.put_nodes(negotiation_id, nodes)
    other = _new_negotiation(store)
    other_rows = _event_rows(0, 1)
    with store.write() as txn:
        txn.insert_events(other, other_rows, [], [])
        txn.put_nodes(other, [(0, 0, other_rows[0]["leaf_hash"])])

    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):  # noqa: ANN001
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    wanted = [(0, 0), (0, 7), (1, 3), (2, 4), (3, 1), (3, 9)]  # (3, 9) does not exist
    event.listen(store.engine, "before_cursor_execute", count)
    try:
        found = store.node_reader(negotiation_id).get_nodes(wanted)
        assert len(statements) == 1
        assert store.node_reader(negotiation_id).get_nodes([]) == {}
        assert len(statements) == 1
    finally:
        event.remove(store.engine, "before_cursor_execute", count)
    expected = {(level, idx): digest for level, idx, digest in nodes}
    assert found == {k: expected[k] for k in wanted if k in expected}
    assert store.node_reader(other).get_nodes([(0, 0), (0, 1)]) == {(0, 0): other_rows[0]["leaf_hash"]}
    # Only level 0, only levels >= 1: one statement each as well.
    assert store.node_reader(negotiation_id).get_nodes([(0, 19), (0, 20)]) == {(0, 19): rows[19]["leaf_hash"]}
    assert store.node_reader(negotiation_id).get_nodes([(2, 4)]) == {(2, 4): expected[(2, 4)]}


def test_level_0_nodes_are_the_leaf_hashes_of_the_event_rows(store):
    """An event row carries its leaf hash; ``put_nodes`` takes level 0 only as exactly that hash."""
    negotiation_id = _new_negotiation(store)
    rows = _event_rows(0, 2)
    before = store.count_rows()
    with pytest.raises(StorageError), store.write() as txn:
        txn.insert_events(negotiation_id, [{k: v for k, v in rows[0].items() if k != "leaf_hash"}], [], [])
    with pytest.raises(StorageError), store.write() as txn:
        txn.insert_events(negotiation_id, [{**rows[0], "leaf_hash": b"\x01" * 31}], [], [])
    for wrong in ((0, 0, b"\x01" * 32), (0, 2, b"\x01" * 32)):  # another hash; no such event in this transaction
        with pytest.raises(StorageError), store.write() as txn:
            txn.insert_events(negotiation_id, rows, [], [])
            txn.put_nodes(negotiation_id, [(0, 1, rows[1]["leaf_hash"]), wrong])
    assert store.count_rows() == before
    with store.write() as txn:
        txn.insert_events(negotiation_id, rows, [], [])
        txn.put_nodes(negotiation_id, [(0, 0, rows[0]["leaf_hash"]), (0, 1, rows[1]["leaf_hash"]),
                                       (1, 0, b"\x02" * 32)])
    with pytest.raises(StorageError), store.write() as txn:  # level 0 of an event of an earlier transaction
        txn.put_nodes(negotiation_id, [(0, 0, rows[0]["leaf_hash"])])
    assert store.node_reader(negotiation_id).get_nodes([(0, 0), (0, 1), (1, 0)]) == {
        (0, 0): rows[0]["leaf_hash"], (0, 1): rows[1]["leaf_hash"], (1, 0): b"\x02" * 32}
    assert store.count_rows()["tlog_nodes"] == 1


def test_negotiations_of_party(store):
    first = _new_negotiation(store, "n-first-negotiation")
    second = _new_negotiation(store, "n-second-negotiation")
    with store.write() as txn:
        txn.add_negotiation_parties(first, ["ua", "ru"])
        txn.add_negotiation_parties(second, ["ua"])
    with store.write() as txn:
        txn.add_negotiation_parties(first, ["ru", "tr", "ua"])  # idempotent for parties already in
        txn.add_negotiation_parties(second, [])
    assert {h.negotiation_id for h in store.negotiations_of_party("ua")} == {first, second}
    assert [h.negotiation_id for h in store.negotiations_of_party("ru")] == [first]
    assert [h.negotiation_id for h in store.negotiations_of_party("tr")] == [first]
    assert store.negotiations_of_party("us") == []
    assert store.count_rows()["negotiation_parties"] == 4


def test_count_rows_names_every_table(store):
    assert set(store.count_rows()) == set(metadata.tables)


def test_schema_matches_migrations(store):
    """The Alembic migrations create exactly ``parley.store.schema``: autogenerate finds nothing to do."""
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        diff = compare_metadata(context, metadata)
        # The comparison does see the migrated tables: a schema lacking one would differ.
        partial = MetaData()
        for table in metadata.sorted_tables:
            if table.name != "access_log":
                table.to_metadata(partial)
        control = compare_metadata(context, partial)
    assert diff == []
    assert [d[1].name for d in control if d[0] == "remove_table"] == ["access_log"]
