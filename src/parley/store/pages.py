"""A page of events read through the database driver itself.

The listing is the relay's heaviest read: 1,000 event rows and their ciphertexts (~3 MB). Through
SQLAlchemy's result objects (one ``fetchone`` and one ``Row`` per row) and psycopg's text protocol
(``bytea`` travels as hex) a page cost ~28 ms on PostgreSQL; with ``fetchall`` on a binary psycopg
cursor the same two queries take ~5 ms. The statements are fixed text with bound parameters only.
"""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy.engine import Connection

from parley.errors import StorageError


class EventRow(NamedTuple):
    seq: int
    event_id: bytes
    header: bytes
    signature: bytes
    received_at: str


_EVENTS = ("SELECT seq, event_id, header, signature, received_at FROM events "
           "WHERE negotiation_no = {m} AND seq > {m} ORDER BY seq LIMIT {m}")
_BLOBS = "SELECT seq, idx, readers, blob FROM ciphertexts WHERE negotiation_no = {m} AND seq > {m} AND seq <= {m}"
_BLOBS_OF_READER = _BLOBS + " AND readers LIKE {m}"


def read_page(conn: Connection, dialect: str, number: int, after: int, limit: int,
              pattern: str | None, every_reader: bool) -> tuple[list[EventRow], dict[int, dict[int, bytes]]]:
    """Event rows with ``seq > after`` (at most ``limit``) and the ciphertexts of those events whose
    reader list holds ``pattern`` (every ciphertext with ``every_reader``, none when ``pattern`` is None
    and not ``every_reader``), by seq and index.

    Raises:
        StorageError: the database failed.
    """
    try:
        return _read(conn, dialect, number, after, limit, pattern, every_reader)
    except conn.dialect.dbapi.Error as exc:  # the driver's own errors: SQLAlchemy is not there to wrap them
        raise StorageError(f"relay database unavailable: {exc.__class__.__name__}: {exc}") from exc


def _read(conn: Connection, dialect: str, number: int, after: int, limit: int,
          pattern: str | None, every_reader: bool) -> tuple[list[EventRow], dict[int, dict[int, bytes]]]:
    mark = "%s" if dialect == "postgresql" else "?"
    driver = conn.connection.driver_connection
    cursor = driver.cursor(binary=True) if dialect == "postgresql" else driver.cursor()
    try:
        cursor.execute(_EVENTS.format(m=mark), (number, after, limit))
        rows = [EventRow(seq, bytes(event_id), bytes(header), bytes(signature), received_at)
                for seq, event_id, header, signature, received_at in cursor.fetchall()]
        blobs: dict[int, dict[int, bytes]] = {}
        if not rows or (pattern is None and not every_reader):
            return rows, blobs
        bounds = (number, after, rows[-1].seq)
        if every_reader:
            cursor.execute(_BLOBS.format(m=mark), bounds)
        else:
            cursor.execute(_BLOBS_OF_READER.format(m=mark), (*bounds, f"%{pattern}%"))
        for seq, idx, readers, blob in cursor.fetchall():
            # The query filtered by reader already; checked again here as defence in depth.
            if not every_reader and pattern not in readers:
                continue
            blobs.setdefault(seq, {})[idx] = bytes(blob)
        return rows, blobs
    finally:
        cursor.close()
