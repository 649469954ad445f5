"""The client's local copy of each negotiation: verified events, decrypted bodies, log nodes, checkpoints.

Plain ``sqlite3``: the cache is local, single-user, and holds what this member
may read anyway (it sits next to the keystore in the profile folder).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from parley.errors import StorageError

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
"""


class ClientCache:
    def __init__(self, path: Path | str) -> None:
        try:
            self.db = sqlite3.connect(str(path), check_same_thread=False)
            self.db.executescript(_SCHEMA)
            self.db.execute("PRAGMA journal_mode=WAL")
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open the local cache {path}: {exc}") from None

    def close(self) -> None:
        self.db.close()

    # events
    def last_seq(self, negotiation_id: str) -> int:
        row = self.db.execute("SELECT MAX(seq) FROM events WHERE negotiation_id=?", (negotiation_id,)).fetchone()
        return -1 if row[0] is None else row[0]

    def events(self, negotiation_id: str) -> list[tuple[int, dict[str, Any], dict[str, Any] | None, str]]:
        rows = self.db.execute(
            "SELECT seq, envelope, body, received_at FROM events WHERE negotiation_id=? ORDER BY seq",
            (negotiation_id,)).fetchall()
        return [(seq, json.loads(env), None if body is None else json.loads(body), at) for seq, env, body, at in rows]

    def iter_bodies(self, negotiation_id: str):  # noqa: ANN201
        """Decrypted bodies in log order, one row at a time (for large logs and attachments)."""
        cursor = self.db.execute("SELECT seq, body FROM events WHERE negotiation_id=? AND body IS NOT NULL "
                                 "ORDER BY seq", (negotiation_id,))
        for seq, body in cursor:
            yield seq, json.loads(body)

    def negotiations(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT negotiation_id FROM checkpoints ORDER BY negotiation_id")]

    def store_sync(self, negotiation_id: str, events: Sequence[tuple[int, str, dict, dict | None, str]],
                   nodes: Sequence[tuple[int, int, bytes]], checkpoint: tuple[int, bytes, str]) -> None:
        """Store a verified batch and the new checkpoint atomically."""
        with self.db:
            self.db.executemany(
                "INSERT INTO events(negotiation_id, seq, event_id, envelope, body, received_at) VALUES (?,?,?,?,?,?)",
                [(negotiation_id, seq, eid, json.dumps(env), None if body is None else json.dumps(body), at)
                 for seq, eid, env, body, at in events])
            self.db.executemany("INSERT OR REPLACE INTO nodes VALUES (?,?,?,?)",
                                [(negotiation_id, lv, ix, h) for lv, ix, h in nodes])
            size, root, note = checkpoint
            self.db.execute("INSERT OR REPLACE INTO checkpoints VALUES (?,?,?,?)", (negotiation_id, size, root, note))

    def checkpoint(self, negotiation_id: str) -> tuple[int, bytes, str] | None:
        row = self.db.execute("SELECT size, root, note FROM checkpoints WHERE negotiation_id=?",
                              (negotiation_id,)).fetchone()
        return None if row is None else (row[0], row[1], row[2])

    def node_reader(self, negotiation_id: str) -> CacheNodeReader:
        return CacheNodeReader(self.db, negotiation_id)

    # checkpoint gossip seen in other parties' events, not yet checkable (ahead of us)
    def add_gossip(self, negotiation_id: str, size: int, root: bytes, seen_in: str) -> None:
        with self.db:
            self.db.execute("INSERT OR IGNORE INTO gossip VALUES (?,?,?,?)", (negotiation_id, size, root, seen_in))

    def pending_gossip(self, negotiation_id: str, up_to: int) -> list[tuple[int, bytes, str]]:
        return [(s, r, e) for s, r, e in self.db.execute(
            "SELECT size, root, seen_in FROM gossip WHERE negotiation_id=? AND size<=?", (negotiation_id, up_to))]

    def drop_gossip(self, negotiation_id: str, up_to: int) -> None:
        with self.db:
            self.db.execute("DELETE FROM gossip WHERE negotiation_id=? AND size<=?", (negotiation_id, up_to))


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
