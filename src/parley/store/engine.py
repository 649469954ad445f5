"""The relay database's URL and engine: SQLite files private to their owner, PostgreSQL pooled."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine, create_engine, event

from parley.errors import StorageError
from parley.extras import require


def database_url(url_or_path: str) -> str:
    """Accept a SQLAlchemy URL, a ``postgresql://`` URL or a plain file path (SQLite)."""
    if url_or_path.startswith("postgresql://") or url_or_path.startswith("postgres://"):
        return "postgresql+psycopg://" + url_or_path.split("://", 1)[1]
    if "://" in url_or_path:
        return url_or_path
    return f"sqlite:///{Path(url_or_path).resolve()}"


def create_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 (its folder 0700 if new), unless it exists: SQLite then
    creates its ``-wal`` and ``-shm`` files with the same mode, so a relay's data is not readable by
    other local users whatever the umask. An existing file keeps the mode its operator gave it.

    Raises:
        StorageError: the file cannot be created.
    """
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))
    except OSError as exc:
        raise StorageError(f"cannot create {path}: {exc.strerror}") from None


def _sqlite_file(url: str) -> Path | None:
    if not url.startswith("sqlite:///"):
        return None
    name = url.removeprefix("sqlite:///").split("?", 1)[0]
    return None if name in ("", ":memory:") else Path(name)


def make_engine(url: str) -> Engine:
    """A SQLAlchemy engine for ``url``: SQLite in WAL mode with durable commits and writers that take the
    write lock at BEGIN; PostgreSQL with a connection pool.

    Raises:
        StorageError: a new SQLite file cannot be created.  ConfigError: PostgreSQL without parley[postgres].
    """
    if url.startswith("sqlite"):
        path = _sqlite_file(url)
        if path is not None and not path.exists():
            create_private_file(path)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # noqa: ANN001
            # Autocommit off in the driver: we issue BEGIN ourselves, IMMEDIATE for writers.
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit is durable once acknowledged; group commit amortises the fsync.
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn):  # noqa: ANN001
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("writer") else "BEGIN")

        return engine
    if url.startswith("postgresql"):
        require("postgres", "a PostgreSQL relay database")
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


__all__ = ["create_private_file", "database_url", "make_engine"]
