"""The client's local copy of each negotiation: verified events, decrypted bodies, log nodes, checkpoints.

SQLite encrypted by SQLCipher (``parley.crypto.local_store``): the cache holds every decrypted body this
member may read, so a copied profile folder reveals nothing without the keystore's passphrase (or the
running key agent). Without a key (``key=None``: throwaway caches in tests) it is plain SQLite.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import msgspec

from parley.crypto.local_store import copy_encrypted_db, open_encrypted_db
from parley.errors import StorageError, VerificationError
from parley.protocol.bodies import Body, decode_stored

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    negotiation_id TEXT NOT NULL, seq INTEGER NOT NULL, event_id TEXT NOT NULL,
    envelope TEXT NOT NULL, body TEXT, received_at TEXT NOT NULL,
    PRIMARY KEY (negotiation_id, seq));
CREATE TABLE IF NOT EXISTS nodes (
    negotiation_id TEXT NOT NULL, level INTEGER NOT NULL, idx INTEGER NOT NULL, hash BLOB NOT NULL,
    PRIMARY KEY (negotiation_id, level, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints (
    negotiation_id TEXT PRIMARY KEY, size INTEGER NOT NULL, root BLOB NOT NULL, note TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS gossip (
    negotiation_id TEXT NOT NULL, size INTEGER NOT NULL, root BLOB NOT NULL, seen_in TEXT NOT NULL,
    PRIMARY KEY (negotiation_id, size, root, seen_in));
CREATE TABLE IF NOT EXISTS cosigned (
    negotiation_id TEXT PRIMARY KEY, size INTEGER NOT NULL);
"""


class ClientCache:
    def __init__(self, path: Path | str, key: bytes | None = None) -> None:
        """Raises: StorageError if the file cannot be opened (with ``key``: not this key's database)."""
        self.key = key
        try:
            if key is None:
                self.db = sqlite3.connect(str(path), check_same_thread=False)
            else:
                self.db = open_encrypted_db(Path(path), key, check_same_thread=False)
            self.db.executescript(_SCHEMA)
            from parley.client.search import ensure_schema

            ensure_schema(self.db)  # the search index lives in this (encrypted) database, nowhere else
            self.db.execute("PRAGMA journal_mode=WAL")
        except Exception as exc:  # sqlite3.Error and sqlcipher3's own DatabaseError alike
            if isinstance(exc, StorageError):
                raise
            raise StorageError(f"cannot open the local cache {path}: {exc}") from None

    def close(self) -> None:
        """Commit what a deferred write left open, then close (closing again does nothing)."""
        if getattr(self, "_closed", False):
            return
        self.commit()
        self.db.close()
        self._closed = True

    def copy_to(self, destination: Path) -> None:
        """A consistent copy of the cache into the new file ``destination`` (encrypted with the same key)."""
        if self.key is None:
            target = sqlite3.connect(str(destination))
            try:
                self.db.backup(target)
            finally:
                target.close()
            return
        copy_encrypted_db(self.db, destination, self.key)

    # events
    def last_seq(self, negotiation_id: str) -> int:
        row = self.db.execute("SELECT MAX(seq) FROM events WHERE negotiation_id=?", (negotiation_id,)).fetchone()
        return -1 if row[0] is None else row[0]

    def events(self, negotiation_id: str, after: int = -1) -> list[tuple[int, dict[str, Any], dict[str, Any] | None, str]]:
        """Stored events after position ``after``, in log order: (seq, envelope, body or None, received_at)."""
        rows = self.db.execute(
            "SELECT seq, envelope, body, received_at FROM events WHERE negotiation_id=? AND seq>? ORDER BY seq",
            (negotiation_id, after)).fetchall()
        return [(seq, json.loads(env), None if body is None else json.loads(body), at) for seq, env, body, at in rows]

    def iter_envelopes(self, negotiation_id: str, after: int = -1) -> Iterator[tuple[int, dict[str, Any], str]]:
        """Stored envelopes after position ``after``, in log order, one row at a time and without their bodies:
        (seq, envelope, received_at). To fold the state or replay the log: a large attachment's chunks are
        never all in memory at once."""
        cursor = self.db.execute("SELECT seq, envelope, received_at FROM events WHERE negotiation_id=? AND seq>? "
                                 "ORDER BY seq", (negotiation_id, after))
        for seq, envelope, received_at in cursor:
            yield seq, json.loads(envelope), received_at

    def body_at(self, negotiation_id: str, seq: int) -> dict[str, Any] | None:
        """The decrypted body stored at position ``seq``, or None (not stored, or not readable here)."""
        row = self.db.execute("SELECT body FROM events WHERE negotiation_id=? AND seq=?", (negotiation_id, seq)).fetchone()
        return None if row is None or row[0] is None else json.loads(row[0])

    def positions(self, negotiation_id: str) -> list[int]:
        """The positions of the stored events, in log order."""
        return [seq for (seq,) in self.db.execute("SELECT seq FROM events WHERE negotiation_id=? ORDER BY seq",
                                                  (negotiation_id,))]

    def iter_timeline(self, negotiation_id: str
                      ) -> Iterator[tuple[int, dict[str, Any], dict[str, Any] | None, str]]:
        """Every stored event in log order, one row at a time, as a timeline shows it: (seq, header, body or
        None, received_at); the events received only as hidden entries are left out. The ciphertexts are left in the database, and so is the data of a file's chunks
        (``content.data``: a file is saved with ``save_attachment``), both read out there."""
        cursor = self.db.execute(
            "SELECT seq, json_extract(envelope, '$.header'), CASE WHEN json_extract(body, '$.type') = "
            "'attachment.chunk' THEN json_remove(body, '$.content.data') ELSE body END, received_at "
            "FROM events WHERE negotiation_id=? AND json_extract(envelope, '$.hidden') IS NULL ORDER BY seq",
            (negotiation_id,))
        for seq, header, body, received_at in cursor:
            yield seq, json.loads(header), None if body is None else json.loads(body), received_at

    def events_of_types(self, negotiation_id: str, types: frozenset[str] | set[str]
                        ) -> list[tuple[int, dict[str, Any], dict[str, Any], str]]:
        """The readable events of the given types only, in log order: the type is read inside the database, so
        the rest (a large attachment's chunks) is never loaded into memory."""
        if not types:
            return []
        marks = ",".join("?" * len(types))
        rows = self.db.execute(
            "SELECT seq, envelope, body, received_at FROM events WHERE negotiation_id=? AND body IS NOT NULL "  # noqa: S608
            f"AND json_extract(body, '$.type') IN ({marks}) ORDER BY seq",
            (negotiation_id, *sorted(types))).fetchall()
        return [(seq, json.loads(env), json.loads(body), at) for seq, env, body, at in rows]

    def typed_events_of_types(self, negotiation_id: str, types: frozenset[str] | set[str]
                              ) -> list[tuple[int, str, StoredHeader, str, Body | None, Mapping[str, Any]]]:
        """``events_of_types`` read for the folds: (seq, event id, header, type, typed content or None, the
        content's JSON), each body decoded in one pass against its declaration (``bodies.decode_stored``); the
        typed content is None where it does not match (the fold then refuses it from the JSON, saying why). The
        ciphertexts stay in the database."""
        if not types:
            return []
        marks = ",".join("?" * len(types))
        rows = self.db.execute(
            "SELECT seq, event_id, json_extract(envelope, '$.header'), body FROM events WHERE negotiation_id=? "  # noqa: S608
            f"AND body IS NOT NULL AND json_extract(body, '$.type') IN ({marks}) ORDER BY seq",
            (negotiation_id, *sorted(types))).fetchall()
        out = []
        for seq, event_id, header, body in rows:
            event_type, typed, raw = decode_stored(body)
            out.append((seq, event_id, _HEADER.decode(header), event_type, typed, raw))
        return out

    def iter_bodies(self, negotiation_id: str):  # noqa: ANN201
        """Decrypted bodies in log order, one row at a time (for large logs and attachments)."""
        cursor = self.db.execute("SELECT seq, body FROM events WHERE negotiation_id=? AND body IS NOT NULL "
                                 "ORDER BY seq", (negotiation_id,))
        for seq, body in cursor:
            yield seq, json.loads(body)

    def negotiations(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT negotiation_id FROM checkpoints ORDER BY negotiation_id")]

    def store_sync(self, negotiation_id: str, events: Sequence[tuple[int, str, dict, dict | None, str]],
                   nodes: Sequence[tuple[int, int, bytes]], checkpoint: tuple[int, bytes, str],
                   gossip: Sequence[tuple[int, bytes, str]] | None = None) -> None:
        """Store a verified batch and the new checkpoint atomically (``SyncWriter`` in one go).

        Raises:
            VerificationError: the cache holds another event at one of these positions (nothing is stored).
        """
        with self.sync_writer(negotiation_id) as writer:
            writer.add_events(events)
            writer.finish(nodes, checkpoint, gossip)

    @contextmanager
    def sync_writer(self, negotiation_id: str) -> Iterator[SyncWriter]:
        """One transaction for one sync: events page by page (``add_events``), then the tree nodes and the
        checkpoint they were verified under (``finish``). Committed when the block ends after ``finish``;
        rolled back when the block raises or ends without it, so the cache never holds events without the
        checkpoint that covers them. Nothing else may write to the cache inside the block (the sync holds
        the profile lock).
        """
        writer = SyncWriter(self.db, negotiation_id)
        with self.db:  # commits at the end of the block, rolls back if it raises
            yield writer
            if not writer.finished:
                self.db.rollback()

    def checkpoint(self, negotiation_id: str) -> tuple[int, bytes, str] | None:
        row = self.db.execute("SELECT size, root, note FROM checkpoints WHERE negotiation_id=?",
                              (negotiation_id,)).fetchone()
        return None if row is None else (row[0], row[1], row[2])

    def node_reader(self, negotiation_id: str) -> CacheNodeReader:
        return CacheNodeReader(self.db, negotiation_id)

    # this device's cosignatures the relay acknowledged (parley.client.witness): what is still owed is the rest
    def cosigned_size(self, negotiation_id: str) -> int:
        """The largest size of the log whose cosignature by this device the relay acknowledged (0: none)."""
        row = self.db.execute("SELECT size FROM cosigned WHERE negotiation_id=?", (negotiation_id,)).fetchone()
        return 0 if row is None else row[0]

    def set_cosigned(self, negotiation_id: str, size: int, *, deferred: bool = False) -> None:
        """Record that the relay acknowledged this device's cosignature at ``size`` (never lowers it).

        ``deferred``: left in the open transaction, committed by the cache's next write (an act stores its
        acknowledged event right after) or by ``commit``, which the act's end calls: a commit (about 3 ms
        with its fsync) saved per act. Lost only if the process dies first: the same cosignature is then
        sent again, which the relay takes as a no-op."""
        statement = ("INSERT INTO cosigned VALUES (?,?) ON CONFLICT(negotiation_id) DO UPDATE SET "
                     "size=excluded.size WHERE excluded.size > cosigned.size")
        if deferred:
            self.db.execute(statement, (negotiation_id, size))
            return
        with self.db:
            self.db.execute(statement, (negotiation_id, size))

    def commit(self) -> None:
        """Commit what a deferred write left open (nothing to do when nothing is)."""
        if self.db.in_transaction:
            self.db.commit()

    # checkpoint gossip seen in other parties' events, not yet checkable (ahead of us)
    def add_gossip(self, negotiation_id: str, size: int, root: bytes, seen_in: str) -> None:
        with self.db:
            self.db.execute("INSERT OR IGNORE INTO gossip VALUES (?,?,?,?)", (negotiation_id, size, root, seen_in))

    def gossip(self, negotiation_id: str) -> list[tuple[int, bytes, str]]:
        """Every gossiped checkpoint still ahead of the verified log: (size, root, id of the event carrying it)."""
        return self.pending_gossip(negotiation_id, 2**62)

    def pending_gossip(self, negotiation_id: str, up_to: int) -> list[tuple[int, bytes, str]]:
        return [(s, r, e) for s, r, e in self.db.execute(
            "SELECT size, root, seen_in FROM gossip WHERE negotiation_id=? AND size<=?", (negotiation_id, up_to))]

    def drop_gossip(self, negotiation_id: str, up_to: int) -> None:
        with self.db:
            self.db.execute("DELETE FROM gossip WHERE negotiation_id=? AND size<=?", (negotiation_id, up_to))


class StoredAudience(msgspec.Struct, frozen=True):
    parties: list[str]


class StoredHeader(msgspec.Struct, frozen=True):
    """The header fields a fold reads of a stored (verified) event."""

    author: str
    created: str
    authority: str
    audience: StoredAudience


_HEADER = msgspec.json.Decoder(StoredHeader)


class SyncWriter:
    """The writes of one sync inside ``ClientCache.sync_writer``'s transaction."""

    def __init__(self, db: sqlite3.Connection, negotiation_id: str) -> None:
        self.db = db
        self.negotiation_id = negotiation_id
        self.stored = 0
        self.finished = False

    def add_events(self, events: Sequence[tuple[int, str, dict, dict | None, str]]) -> None:
        """Store verified events: (seq, event id, envelope, body or None, received_at), in log order.

        Idempotent: events another process on this profile stored already are kept (they were verified the
        same way).

        Raises:
            VerificationError: the cache holds another event at one of these positions.
        """
        if not events:
            return
        negotiation_id = self.negotiation_id
        self.db.executemany(
            "INSERT OR IGNORE INTO events(negotiation_id, seq, event_id, envelope, body, received_at) "
            "VALUES (?,?,?,?,?,?)",
            [(negotiation_id, seq, eid, json.dumps(env), None if body is None else json.dumps(body), at)
             for seq, eid, env, body, at in events])
        stored = dict(self.db.execute(
            "SELECT seq, event_id FROM events WHERE negotiation_id=? AND seq BETWEEN ? AND ?",
            (negotiation_id, events[0][0], events[-1][0])).fetchall())
        for seq, eid, *_ in events:
            if stored.get(seq) != eid:
                raise VerificationError(f"the local copy already holds another event at position {seq} "
                                        "than the one just verified: re-verify with 'parley log verify'")
        from parley.client.search import index_batch

        index_batch(self.db, negotiation_id, events)
        self.stored += len(events)

    def finish(self, nodes: Sequence[tuple[int, int, bytes]], checkpoint: tuple[int, bytes, str],
               gossip: Sequence[tuple[int, bytes, str]] | None = None) -> None:
        """The new tree nodes and checkpoint (never replacing a larger one); ``gossip`` (when given) replaces
        the checkpoints other members gossiped that are still ahead of the log (those at or below the new
        size were checked against it)."""
        negotiation_id = self.negotiation_id
        self.db.executemany("INSERT OR REPLACE INTO nodes VALUES (?,?,?,?)",
                            [(negotiation_id, lv, ix, h) for lv, ix, h in nodes])
        size, root, note = checkpoint
        self.db.execute("INSERT INTO checkpoints VALUES (?,?,?,?) ON CONFLICT(negotiation_id) DO UPDATE SET "
                        "size=excluded.size, root=excluded.root, note=excluded.note "
                        "WHERE excluded.size >= checkpoints.size", (negotiation_id, size, root, note))
        if gossip is not None:
            self.db.execute("DELETE FROM gossip WHERE negotiation_id=?", (negotiation_id,))
            self.db.executemany("INSERT OR IGNORE INTO gossip VALUES (?,?,?,?)",
                                [(negotiation_id, s, r, e) for s, r, e in gossip])
        self.finished = True


class CacheNodeReader:
    def __init__(self, db: sqlite3.Connection, negotiation_id: str) -> None:
        self.db = db
        self.negotiation_id = negotiation_id
        self.overlay: dict[tuple[int, int], bytes] = {}

    def get_nodes(self, keys: Sequence[tuple[int, int]]) -> Mapping[tuple[int, int], bytes]:
        found = {k: self.overlay[k] for k in keys if k in self.overlay}
        by_level: dict[int, list[int]] = {}
        for level, idx in keys:
            if (level, idx) not in found:
                by_level.setdefault(level, []).append(idx)
        # One primary-key lookup query per level (chunks of 500 keys), not one query per node.
        for level, idxs in by_level.items():
            for start in range(0, len(idxs), 500):
                chunk = idxs[start:start + 500]
                marks = ",".join("?" * len(chunk))
                for idx, digest in self.db.execute(
                        f"SELECT idx, hash FROM nodes WHERE negotiation_id=? AND level=? AND idx IN ({marks})",  # noqa: S608
                        (self.negotiation_id, level, *chunk)):
                    found[(level, idx)] = digest
        return found
