"""The writer's hot statements, through the database driver itself.

Every batch of the group commit runs the same few statements. Through SQLAlchemy Core each costs a
statement cache lookup and per-row parameter processing (about a sixth of the writer thread's time at 32
clients); these are fixed texts with bound parameters only, run by the driver's ``executemany``.
Driver errors are turned into the store's errors by ``RelayStore.write``.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.engine import Connection

INSERT_EVENTS = ("INSERT INTO events (negotiation_no, seq, event_id, header, signature, received_at, leaf_hash) "
                 "VALUES ({m}, {m}, {m}, {m}, {m}, {m}, {m})")
INSERT_CIPHERTEXTS = "INSERT INTO ciphertexts (negotiation_no, seq, idx, readers, blob) VALUES ({m}, {m}, {m}, {m}, {m})"
INSERT_NODES = "INSERT INTO tlog_nodes (negotiation_no, level, idx, hash) VALUES ({m}, {m}, {m}, {m})"
SET_HEAD = "UPDATE negotiations SET size = {m}, root = {m}, checkpoint = {m} WHERE negotiation_no = {m}"
INSERT_ACCESS = "INSERT INTO access_log (negotiation_no, device_no, seq, idx, fetched_at) VALUES ({m}, {m}, {m}, {m}, {m})"
HEAD = "SELECT negotiation_no, negotiation_id, size, root, checkpoint FROM negotiations WHERE negotiation_id = {m}"


def _mark(conn: Connection) -> str:
    return "%s" if conn.dialect.name == "postgresql" else "?"


def execute_many(conn: Connection, statement: str, rows: Sequence[tuple]) -> None:
    """Run ``statement`` (one of the texts above) once per row, inside ``conn``'s transaction."""
    if not rows:
        return
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.executemany(statement.format(m=_mark(conn)), rows)
    finally:
        cursor.close()


def execute(conn: Connection, statement: str, row: tuple) -> None:
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.execute(statement.format(m=_mark(conn)), row)
    finally:
        cursor.close()


def head_row(conn: Connection, negotiation_id: str, *, for_update: bool) -> tuple | None:
    """(negotiation_no, negotiation_id, size, root, checkpoint) of a negotiation; ``for_update`` locks the
    row until the transaction ends (PostgreSQL; SQLite's writer holds the database lock already)."""
    statement = HEAD.format(m=_mark(conn)) + (" FOR UPDATE" if for_update else "")
    cursor = conn.connection.driver_connection.cursor()
    try:
        cursor.execute(statement, (negotiation_id,))
        return cursor.fetchone()
    finally:
        cursor.close()
