"""Compact per-event storage: negotiations and devices as small numbers, binary ids, no reader table.

- ``negotiations`` gets an integer key, ``negotiation_no``, which names the negotiation in
  ``events``, ``ciphertexts``, ``tlog_nodes`` and ``access_log`` instead of its id string.
- ``device_numbers`` (new) numbers device key ids; ``access_log`` and the reader lists use the
  number; ``request_nonces`` keeps the key id as 16 bytes.
- ``events``: event id as 32 bytes, signature as 64 bytes, header with its hex runs as bytes
  (``parley.store.codec``).
- ``ciphertext_readers`` is gone: each ciphertext row carries its readers (``",3,17,"``).
- ``tlog_nodes`` and ``request_nonces`` are WITHOUT ROWID tables on SQLite (no second copy of the key).

Existing rows are carried over, converted in batches. Downgrade is not supported: restore a backup
taken before the upgrade.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from parley.store import codec

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BATCH = 1000


def _create_tables() -> dict[str, sa.Table]:
    tables = {}
    tables["device_numbers"] = op.create_table(
        "device_numbers",
        sa.Column("device_no", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("device_key_id", sa.String(64), nullable=False),
    )
    op.create_index("device_numbers_by_key", "device_numbers", ["device_key_id"], unique=True)
    tables["negotiations"] = op.create_table(
        "negotiations_v4",
        sa.Column("negotiation_no", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("negotiation_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(20), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("root", sa.LargeBinary, nullable=False),
        sa.Column("checkpoint", sa.Text, nullable=False),
    )
    tables["request_nonces"] = op.create_table(
        "request_nonces_v4",
        sa.Column("key_id", sa.LargeBinary, primary_key=True),
        sa.Column("nonce", sa.String(128), primary_key=True),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sqlite_with_rowid=False,
    )
    tables["events"] = op.create_table(
        "events_v4",
        sa.Column("negotiation_no", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("event_id", sa.LargeBinary, nullable=False),
        sa.Column("header", sa.LargeBinary, nullable=False),
        sa.Column("signature", sa.LargeBinary, nullable=False),
        sa.Column("received_at", sa.String(20), nullable=False),
    )
    tables["ciphertexts"] = op.create_table(
        "ciphertexts_v4",
        sa.Column("negotiation_no", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("idx", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("readers", sa.Text, nullable=False),
        sa.Column("blob", sa.LargeBinary, nullable=False),
    )
    tables["tlog_nodes"] = op.create_table(
        "tlog_nodes_v4",
        sa.Column("negotiation_no", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("level", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("hash", sa.LargeBinary, nullable=False),
        sqlite_with_rowid=False,
    )
    tables["access_log"] = op.create_table(
        "access_log_v4",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("negotiation_no", sa.Integer, nullable=False),
        sa.Column("device_no", sa.Integer, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("idx", sa.Integer, nullable=False),
        sa.Column("fetched_at", sa.String(20), nullable=False),
    )
    return tables


def _rows(conn: sa.Connection, sql: str, **params: object) -> list[sa.Row]:
    return conn.execute(sa.text(sql), params).all()


def _copy_negotiation(conn: sa.Connection, new: dict[str, sa.Table], nid: str, number: int,
                      devices: dict[str, int]) -> None:
    """One negotiation's events, ciphertexts with their readers, and log nodes, in batches."""
    last = -1
    while True:
        batch = _rows(conn, "SELECT seq, event_id, header, signature, received_at FROM events "
                            "WHERE negotiation_id = :n AND seq > :s ORDER BY seq LIMIT :b", n=nid, s=last, b=BATCH)
        if not batch:
            break
        conn.execute(new["events"].insert(), [
            {"negotiation_no": number, "seq": r.seq, "event_id": codec.pack_event_id(r.event_id),
             "header": codec.pack_header(bytes(r.header)), "signature": codec.pack_signature(r.signature),
             "received_at": r.received_at} for r in batch])
        last = batch[-1].seq
    readers_of = [r.device_key_id for r in _rows(
        conn, "SELECT DISTINCT device_key_id FROM ciphertext_readers WHERE negotiation_id = :n", n=nid)]
    last = -1
    while True:
        batch = _rows(conn, "SELECT seq, idx, blob FROM ciphertexts WHERE negotiation_id = :n AND seq > :s "
                            "AND seq <= (SELECT COALESCE(MIN(seq), -1) + :b FROM ciphertexts "
                            "WHERE negotiation_id = :n AND seq > :s) ORDER BY seq, idx", n=nid, s=last, b=BATCH)
        if not batch:
            break
        low, high = batch[0].seq, batch[-1].seq
        readers: dict[tuple[int, int], set[int]] = {}
        for device in readers_of:  # one primary-key range per device
            for r in _rows(conn, "SELECT seq, idx FROM ciphertext_readers WHERE negotiation_id = :n "
                                 "AND device_key_id = :d AND seq >= :a AND seq <= :z", n=nid, d=device, a=low, z=high):
                readers.setdefault((r.seq, r.idx), set()).add(devices[device])
        conn.execute(new["ciphertexts"].insert(), [
            {"negotiation_no": number, "seq": r.seq, "idx": r.idx, "blob": bytes(r.blob),
             "readers": codec.pack_readers(readers.get((r.seq, r.idx), set()))} for r in batch])
        last = high
    level, idx = -1, -1
    while True:
        batch = _rows(conn, "SELECT level, idx, hash FROM tlog_nodes WHERE negotiation_id = :n "
                            "AND (level > :l OR (level = :l AND idx > :i)) ORDER BY level, idx LIMIT :b",
                      n=nid, l=level, i=idx, b=BATCH)
        if not batch:
            break
        conn.execute(new["tlog_nodes"].insert(), [
            {"negotiation_no": number, "level": r.level, "idx": r.idx, "hash": bytes(r.hash)} for r in batch])
        level, idx = batch[-1].level, batch[-1].idx


def _copy_data(conn: sa.Connection, new: dict[str, sa.Table]) -> None:
    numbers: dict[str, int] = {}
    for number, r in enumerate(_rows(conn, "SELECT negotiation_id, created_at, size, root, checkpoint "
                                           "FROM negotiations ORDER BY created_at, negotiation_id"), start=1):
        numbers[r.negotiation_id] = number
        conn.execute(new["negotiations"].insert().values(
            negotiation_no=number, negotiation_id=r.negotiation_id, created_at=r.created_at, size=r.size,
            root=bytes(r.root), checkpoint=r.checkpoint))
    known: set[str] = set()
    for sql in ("SELECT DISTINCT device_key_id FROM ciphertext_readers", "SELECT DISTINCT device_key_id FROM access_log"):
        known.update(r[0] for r in _rows(conn, sql))
    devices = {key: number for number, key in enumerate(sorted(known), start=1)}
    for start in range(0, len(devices), BATCH):
        conn.execute(new["device_numbers"].insert(), [{"device_no": n, "device_key_id": k}
                                                      for k, n in list(devices.items())[start:start + BATCH]])
    for nid, number in numbers.items():
        _copy_negotiation(conn, new, nid, number, devices)
    nonces = _rows(conn, "SELECT key_id, nonce, expires_at FROM request_nonces")
    for start in range(0, len(nonces), BATCH):
        conn.execute(new["request_nonces"].insert(), [
            {"key_id": codec.pack_key_id(r.key_id), "nonce": r.nonce, "expires_at": r.expires_at}
            for r in nonces[start:start + BATCH]])
    last = 0
    while True:
        batch = _rows(conn, "SELECT id, negotiation_id, device_key_id, seq, idx, fetched_at FROM access_log "
                            "WHERE id > :i ORDER BY id LIMIT :b", i=last, b=BATCH)
        if not batch:
            break
        unknown = {r.negotiation_id for r in batch} - set(numbers)
        if unknown:
            raise RuntimeError(f"access log rows of unknown negotiations {sorted(unknown)[:3]}: not migrated")
        conn.execute(new["access_log"].insert(), [
            {"id": r.id, "negotiation_no": numbers[r.negotiation_id], "device_no": devices[r.device_key_id],
             "seq": r.seq, "idx": r.idx, "fetched_at": r.fetched_at} for r in batch])
        last = batch[-1].id


def upgrade() -> None:
    conn = op.get_bind()
    new = _create_tables()
    _copy_data(conn, new)
    for old in ("ciphertext_readers", "access_log", "tlog_nodes", "ciphertexts", "events", "request_nonces",
                "negotiations"):
        op.drop_table(old)
    for name in ("negotiations", "request_nonces", "events", "ciphertexts", "tlog_nodes", "access_log"):
        op.rename_table(f"{name}_v4", name)
        if conn.dialect.name == "postgresql":
            op.execute(f'ALTER INDEX "{name}_v4_pkey" RENAME TO "{name}_pkey"')
    if conn.dialect.name == "postgresql":
        op.execute('ALTER SEQUENCE "negotiations_v4_negotiation_no_seq" RENAME TO "negotiations_negotiation_no_seq"')
        op.execute('ALTER SEQUENCE "access_log_v4_id_seq" RENAME TO "access_log_id_seq"')
        # Rows were copied with their numbers: the sequences continue after them.
        for table, column in (("negotiations", "negotiation_no"), ("device_numbers", "device_no"),
                              ("access_log", "id")):
            op.execute(f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "  # noqa: S608 (constant names)
                       f"COALESCE((SELECT MAX({column}) FROM {table}), 0) + 1, false)")
    op.create_index("negotiations_by_id", "negotiations", ["negotiation_id"], unique=True)
    op.create_index("ix_request_nonces_expires_at", "request_nonces", ["expires_at"])
    op.create_index("events_by_id", "events", ["negotiation_no", "event_id"], unique=True)
    op.create_index("access_by_negotiation", "access_log", ["negotiation_no", "id"])


def downgrade() -> None:
    raise NotImplementedError("revision 0004 cannot be downgraded: restore a backup taken before the upgrade")
