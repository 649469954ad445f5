"""Online, consistent backups of the relay database, and restore into an empty one.

Two formats, both taken while the relay keeps serving:

- **SQLite source**: the sqlite3 online backup API copies the database in one step under a read
  lock, so the copy is one consistent snapshot (a WAL database keeps accepting writes meanwhile).
  The backup file is itself a SQLite database.
- **PostgreSQL source**: one ``REPEATABLE READ, READ ONLY`` transaction reads every table, so all
  tables come from one snapshot; rows are written as JSON lines (gzip), bytes as base64. The format
  is portable: it restores into PostgreSQL or SQLite.

``restore`` accepts either format and loads it into an *empty* relay database of either engine
(created and migrated first); it refuses a non-empty target or a backup of another schema revision.

The relay's checkpoint key (``relay.key``) is not in the database and is not in the backup: back it
up separately (mode 0600). A restored relay must use the same key, or clients reject its checkpoints.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, make_url, select, text

from parley.errors import ConfigError, ConflictError, InputError, StorageError
from parley.progress import report
from parley.store import schema as t
from parley.store.engine import create_private_file, database_url
from parley.store.relay_store import RelayStore, open_store

FORMAT = "parley-relay-backup"
VERSION = 1
SQLITE_MAGIC = b"SQLite format 3\x00"
BATCH = 500
#: (table, column) of every integer key the database numbers itself (SERIAL on PostgreSQL)
_SERIAL_COLUMNS = [(tb.name, col.name) for tb in t.metadata.sorted_tables for col in tb.primary_key.columns
                   if col is tb.autoincrement_column]


def _alembic_revision(store: RelayStore) -> str | None:
    with store.engine.connect() as conn:
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _encode(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$b": base64.b64encode(bytes(value)).decode("ascii")}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"$b"}:
        return base64.b64decode(value["$b"])
    return value


def _sqlite_path(url_or_path: str) -> Path | None:
    url = database_url(url_or_path)
    return Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None


def backup(database: str, destination: Path) -> dict[str, Any]:
    """Write a consistent backup of a live relay database to ``destination`` (must not exist).

    Raises:
        ConflictError: the destination exists.  StorageError: the database cannot be read.
    """
    if destination.exists():
        raise ConflictError(f"{destination} exists: a backup never overwrites a file")
    destination.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    store = open_store(database, migrate_schema=False)  # a backup never changes what it copies
    try:
        revision = store.schema_revision()
        source = _sqlite_path(database)
        if source is not None:  # a copy of the file: any schema revision
            return _backup_sqlite(source, destination, revision)
        store.require_current_schema()  # rows are read by this version's table definitions
        return _backup_rows(store, destination, revision)
    finally:
        store.close()


def _backup_sqlite(source: Path, destination: Path, revision: str | None) -> dict[str, Any]:
    tmp = destination.with_name(destination.name + ".partial")
    create_private_file(tmp)  # a backup holds what the database holds: readable by the operator only
    src = sqlite3.connect(str(source), timeout=30)
    dst = sqlite3.connect(str(tmp))
    try:
        report("copying the database", 0)  # one step (a spinner): stepping could restart under writes
        src.backup(dst)  # pages=-1: the whole database in one step, one snapshot
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        # the tables the file holds: those of its own schema revision, which need not be the newest
        names = [row[0] for row in dst.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name "
                                               "NOT LIKE 'sqlite_%' AND name != 'alembic_version' ORDER BY name")]
        counts = {name: dst.execute(f'SELECT COUNT(*) FROM "{name}"').fetchone()[0]  # noqa: S608
                  for name in names}
    except sqlite3.Error as exc:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"SQLite backup failed: {exc}") from None
    finally:
        src.close()
        dst.close()
    os.replace(tmp, destination)
    return {"format": "sqlite", "file": str(destination), "revision": revision, "rows": counts}


def _snapshot_rows(store: RelayStore) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every row of every relay table, all from one snapshot."""
    with store.engine.connect() as conn:
        if store.dialect == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            if store.dialect == "postgresql":
                conn.execute(text("SET TRANSACTION READ ONLY"))
            for table in t.metadata.sorted_tables:
                order = list(table.primary_key.columns)
                result = conn.execution_options(yield_per=BATCH).execute(select(table).order_by(*order))
                for row in result:
                    yield table.name, dict(row._mapping)


def _backup_rows(store: RelayStore, destination: Path, revision: str | None) -> dict[str, Any]:
    tmp = destination.with_name(destination.name + ".partial")
    counts = {table.name: 0 for table in t.metadata.sorted_tables}
    create_private_file(tmp)
    written = 0
    try:
        with gzip.open(tmp, "wt", encoding="utf-8") as out:
            out.write(json.dumps({"format": FORMAT, "version": VERSION, "revision": revision,
                                  "tables": list(counts), "created": datetime.now(UTC).isoformat()}) + "\n")
            for table, row in _snapshot_rows(store):
                out.write(json.dumps({"t": table, "r": {k: _encode(v) for k, v in row.items()}},
                                     separators=(",", ":")) + "\n")
                counts[table] += 1
                written += 1
                if written % BATCH == 0:
                    report("backing up rows", written)
            out.write(json.dumps({"end": counts}) + "\n")  # a truncated file is detected at restore
    except Exception:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, destination)
    return {"format": "jsonl.gz", "file": str(destination), "revision": revision, "rows": counts}


def _read_backup(path: Path) -> tuple[str | None, Iterator[tuple[str, dict[str, Any]]], dict[str, int] | None]:
    """The backup's schema revision and its rows."""
    with open(path, "rb") as handle:
        magic = handle.read(len(SQLITE_MAGIC))
    if magic == SQLITE_MAGIC:
        source = open_store(str(path.resolve()), migrate_schema=False)

        def sqlite_rows() -> Iterator[tuple[str, dict[str, Any]]]:
            try:
                yield from _snapshot_rows(source)
            finally:
                source.close()

        return _alembic_revision(source), sqlite_rows(), None
    try:
        handle = gzip.open(path, "rt", encoding="utf-8")
        header = json.loads(handle.readline())
    except (OSError, ValueError):
        raise InputError(f"{path} is not a parley relay backup") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT or header.get("version") != VERSION:
        handle.close()
        raise InputError(f"{path} is not a parley relay backup (version {VERSION})")
    totals: dict[str, int] = {}

    def jsonl_rows() -> Iterator[tuple[str, dict[str, Any]]]:
        with handle:
            for line in handle:
                item = json.loads(line)
                if "end" in item:
                    totals.update(item["end"])
                    return
                yield item["t"], {k: _decode(v) for k, v in item["r"].items()}
        raise InputError(f"{path} is truncated: the backup has no end marker")

    return header.get("revision"), jsonl_rows(), totals


def restore(path: Path, database: str) -> dict[str, Any]:
    """Load a backup (either format) into an empty relay database (created and migrated if need be).

    Raises:
        ConflictError: the target holds data.  InputError: not a backup, truncated, or of another
        schema revision.  ConfigError: the backup file does not exist.
    """
    if not path.exists():
        raise ConfigError(f"no backup file {path}")
    target = open_store(database, migrate_schema=False)
    try:
        if target.schema_revision() is None:
            target.migrate()  # a new, empty database: create the schema the backup is restored into
        target.require_current_schema()
        with target.engine.connect() as conn:
            busy = [tb.name for tb in t.metadata.sorted_tables
                    if conn.execute(select(func.count()).select_from(tb)).scalar()]
        if busy:
            raise ConflictError(f"the target database is not empty (tables {', '.join(busy)}): restore needs an "
                                "empty database")
        revision, rows, totals = _read_backup(path)
        if revision != _alembic_revision(target):
            raise InputError(f"the backup is of schema revision {revision}, the target of "
                             f"{_alembic_revision(target)}: restore with the same parley version")
        tables = {tb.name: tb for tb in t.metadata.sorted_tables}
        counts = dict.fromkeys(tables, 0)
        with target.engine.connect() as conn:
            conn.info["writer"] = True
            with conn.begin():  # all or nothing
                pending: dict[str, list[dict[str, Any]]] = {}
                for name, row in rows:
                    if name not in tables:
                        raise InputError(f"the backup has an unknown table {name!r}")
                    pending.setdefault(name, []).append(row)
                    counts[name] += 1
                    if len(pending[name]) >= BATCH:
                        conn.execute(insert(tables[name]), pending.pop(name))
                        report("restoring rows", sum(counts.values()), sum(totals.values()) if totals else None)
                for name, batch in pending.items():
                    conn.execute(insert(tables[name]), batch)
                if totals is not None and {k: v for k, v in totals.items() if v} != {k: v for k, v in counts.items()
                                                                                     if v}:
                    raise InputError("the backup's row counts do not match its end marker: damaged file")
                if target.dialect == "postgresql":
                    # Rows came with their numbers: each serial column's sequence continues after them.
                    for table, column in _SERIAL_COLUMNS:
                        conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "  # noqa: S608
                                          f"COALESCE((SELECT MAX({column}) FROM {table}), 0) + 1, false)"))
    finally:
        target.close()
    # the target as given, its password hidden (the result is printed)
    shown = make_url(database_url(database)).render_as_string(hide_password=True)
    return {"file": str(path), "database": shown, "revision": revision, "rows": counts}
