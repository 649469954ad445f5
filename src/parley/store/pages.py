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
# Lengths only: SQLite's length() and PostgreSQL's length(bytea) read the stored size, not the value.
_SIZES = "SELECT seq, length(blob) FROM ciphertexts WHERE negotiation_no = {m} AND seq > {m} AND seq <= {m}"
_SIZES_OF_READER = _SIZES + " AND readers LIKE {m}"


def read_page(conn: Connection, dialect: str, number: int, after: int, limit: int,
              pattern: str | None, every_reader: bool, max_bytes: int | None = None,
              ) -> tuple[list[EventRow], dict[int, dict[int, bytes]]]:
    """Event rows with ``seq > after`` (at most ``limit``) and the ciphertexts of those events whose
    reader list holds ``pattern`` (every ciphertext with ``every_reader``, none when ``pattern`` is None
    and not ``every_reader``), by seq and index.

    With ``max_bytes`` the page also stops before the event that would take its headers and ciphertexts
    past that many bytes, the first event always included: a page of large attachment chunks is a few of
    them, never hundreds of megabytes held at once.

    Raises:
        StorageError: the database failed.
    """
    try:
        return _read(conn, dialect, number, after, limit, pattern, every_reader, max_bytes)
    except conn.dialect.dbapi.Error as exc:  # the driver's own errors: SQLAlchemy is not there to wrap them
        raise StorageError(f"relay database unavailable: {exc.__class__.__name__}: {exc}") from exc


def _read(conn: Connection, dialect: str, number: int, after: int, limit: int, pattern: str | None,
          every_reader: bool, max_bytes: int | None) -> tuple[list[EventRow], dict[int, dict[int, bytes]]]:
    mark = "%s" if dialect == "postgresql" else "?"
    driver = conn.connection.driver_connection
    cursor = driver.cursor(binary=True) if dialect == "postgresql" else driver.cursor()
    try:
        cursor.execute(_EVENTS.format(m=mark), (number, after, limit))
        rows = [EventRow(seq, bytes(event_id), bytes(header), bytes(signature), received_at)
                for seq, event_id, header, signature, received_at in cursor.fetchall()]
        if not rows or (pattern is None and not every_reader):
            return rows, {}
        bounded = max_bytes is not None and len(rows) > 1
        if bounded and dialect == "postgresql":
            # psycopg receives a whole result at once: the lengths first, then only the blobs that fit.
            rows = _fitting(rows, _sizes(cursor, mark, number, after, rows, pattern, every_reader), max_bytes)
        bounds = (number, after, rows[-1].seq)
        if every_reader:
            cursor.execute(_BLOBS.format(m=mark), bounds)
        else:
            cursor.execute(_BLOBS_OF_READER.format(m=mark), (*bounds, f"%{pattern}%"))
        blobs: dict[int, dict[int, bytes]] = {}
        # In primary-key order (seq, idx). SQLite hands rows over as they are stepped through, so a bounded
        # page stops reading at the first event that cannot fit, and costs no query of its own.
        headers = _cumulative_headers(rows) if bounded and dialect != "postgresql" else None
        first, fetched = rows[0].seq, 0
        for seq, idx, readers, blob in (cursor if headers is not None else cursor.fetchall()):
            # The query filtered by reader already; checked again here as defence in depth.
            if not every_reader and pattern not in readers:
                continue
            if headers is not None and seq != first and headers[seq] + fetched + len(blob) > max_bytes:
                blobs.pop(seq, None)
                rows = [row for row in rows if row.seq < seq]
                break
            blobs.setdefault(seq, {})[idx] = bytes(blob)
            fetched += len(blob)
        if headers is not None:
            rows = _fitting(rows, {seq: sum(map(len, by_idx.values())) for seq, by_idx in blobs.items()}, max_bytes)
            blobs = {seq: by_idx for seq, by_idx in blobs.items() if seq <= rows[-1].seq}
        return rows, blobs
    finally:
        cursor.close()


def _sizes(cursor, mark: str, number: int, after: int, rows: list[EventRow],  # noqa: ANN001
           pattern: str | None, every_reader: bool) -> dict[int, int]:
    """Bytes of the readable ciphertexts of each of ``rows`` (read in the database, blobs left there)."""
    bounds = (number, after, rows[-1].seq)
    if every_reader:
        cursor.execute(_SIZES.format(m=mark), bounds)
    else:
        cursor.execute(_SIZES_OF_READER.format(m=mark), (*bounds, f"%{pattern}%"))
    sizes: dict[int, int] = {}
    for seq, length in cursor.fetchall():
        sizes[seq] = sizes.get(seq, 0) + length
    return sizes


def _cumulative_headers(rows: list[EventRow]) -> dict[int, int]:
    """Header bytes of each row and every row before it, by seq."""
    total, out = 0, {}
    for row in rows:
        total += len(row.header)
        out[row.seq] = total
    return out


def _fitting(rows: list[EventRow], sizes: dict[int, int], max_bytes: int) -> list[EventRow]:
    """The leading ``rows`` whose headers and ciphertexts (``sizes`` by seq) fit in ``max_bytes`` (one at least)."""
    total = 0
    for count, row in enumerate(rows):
        total += len(row.header) + sizes.get(row.seq, 0)
        if count and total > max_bytes:
            return rows[:count]
    return rows
