"""No plaintext at rest on the relay (threat: the relay reads content).

Parties post messages and an encrypted event of another type with distinctive
texts; afterwards neither those texts nor the encrypted event type names
appear anywhere the relay keeps data: its SQLite files (main file, WAL and
shared-memory index, read as raw bytes) or any row of any table, on SQLite
and on PostgreSQL.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

from sqlalchemy import select

from parley.store.schema import metadata

PLAINTEXTS = (
    "Memorandum-7f3a: ceasefire along the line of contact from 1 June",
    "Перемирие вдоль линии соприкосновения: ответ к четвергу",
    "Türkiye proposes Istanbul, Dolmabahçe Palace, 14:00 on the 15th",
    "zx-canary-5521 prisoner exchange 1200 for 1200",
)
MEETING_VENUE = "Çırağan-canary-venue-9c1d"
#: encrypted event types used below: only clients may learn them
SECRET_TYPES = ("message", "meeting.proposal")


def _needles() -> list[tuple[str, bytes]]:
    """Every form a leaked text could take in a file or row."""
    texts = [*PLAINTEXTS, MEETING_VENUE]
    needles: list[tuple[str, bytes]] = []
    for text in texts:
        needles.append((text, text.encode("utf-8")))
        needles.append((text + " (utf-16-le)", text.encode("utf-16-le")))
        needles.append((text + " (json escaped)", json.dumps(text).encode("ascii")[1:-1]))
        raw = text.encode("utf-8")
        for shift in range(3):  # base64 of the text at each alignment, without the edge characters
            encoded = base64.b64encode(raw[shift:])
            needles.append((f"{text} (base64+{shift})", encoded[:len(encoded) // 4 * 4 - 4]))
        # A distinctive fragment, in case a text was split or truncated.
        needles.append((text + " (fragment)", raw[:16]))
    for event_type in SECRET_TYPES:
        needles.append((f"type {event_type}", f'"type":"{event_type}"'.encode()))
        needles.append((f"type {event_type} (spaced)", f'"type": "{event_type}"'.encode()))
        needles.append((f"name {event_type}", event_type.encode()))
    return needles


def _post_secrets(world) -> str:
    ukraine = world.party("Ukraine")
    russia = world.party("Russian Federation")
    turkiye = world.party("Türkiye")
    negotiation_id = world.negotiation(turkiye, ukraine, russia)
    for index, text in enumerate(PLAINTEXTS):
        author = (ukraine, russia, turkiye)[index % 3]
        author.send_message(negotiation_id, text)
    turkiye.post(negotiation_id, "meeting.proposal",
                 {"venue": MEETING_VENUE, "start": "2026-06-15T14:00:00Z", "level": "heads"})
    # A bilateral message, encrypted to two parties only.
    ukraine.send_message(negotiation_id, PLAINTEXTS[0] + " (bilateral)",
                         parties=sorted([ukraine.profile.party.party_id, russia.profile.party.party_id]))
    for client in (ukraine, russia, turkiye):
        client.sync(negotiation_id)
    # The clients could read it all: the texts did travel through the relay.
    seen = [m["content"]["text"] for m in russia.messages(negotiation_id)]
    assert seen[: len(PLAINTEXTS)] == list(PLAINTEXTS)
    assert [e["content"]["venue"] for e in turkiye.timeline(negotiation_id)
            if e["type"] == "meeting.proposal"] == [MEETING_VENUE]
    return negotiation_id


def _leaks(data: bytes) -> list[str]:
    return [name for name, needle in _needles() if needle and needle in data]


def _row_bytes(value) -> bytes:  # noqa: ANN001
    if value is None:
        return b""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode("utf-8")


def _rows_leaking(store) -> dict[str, list[str]]:  # noqa: ANN001
    """Each table's leaks, reading every column of every row."""
    found: dict[str, list[str]] = {}
    total = 0
    with store.engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(select(table)):
                total += 1
                data = b"\x00".join(_row_bytes(v) for v in row)
                # Also a base64-decoded view of text columns (a blob could be stored base64-encoded).
                for value in row:
                    if isinstance(value, str):
                        try:
                            data += b"\x00" + base64.b64decode(value, validate=True)
                        except ValueError:
                            pass
                leaks = _leaks(data)
                if leaks:
                    found.setdefault(table.name, []).extend(leaks)
    assert total > 20, "the scan read too few rows to mean anything"
    return found


def _relay_files(db: Path) -> list[Path]:
    return [p for p in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")) if p.exists()]


def test_relay_database_files_hold_no_plaintext(world):
    negotiation_id = _post_secrets(world)
    db = world.tmp / "relay.db"
    assert world.store.engine.url.database == str(db.resolve())
    files = _relay_files(db)
    assert db.with_name("relay.db-wal") in files  # WAL mode: recent commits live in the WAL
    for path in files:
        assert _leaks(path.read_bytes()) == [], f"plaintext in {path.name}"
    # The ciphertexts are there, as age files: the scan looked at the right data.
    stored = world.store.events(negotiation_id, -1, 1000, reader=None)
    blobs = [blob for row in stored for blob in row.ciphertexts.values()]
    assert len(blobs) >= len(PLAINTEXTS) + 2
    assert all(blob.startswith(b"age-encryption.org/v1\n") for blob in blobs)
    # Checkpoint the WAL into the main file (as on shutdown) and look again.
    world.store.engine.dispose()
    for path in _relay_files(db):
        assert _leaks(path.read_bytes()) == [], f"plaintext in {path.name} after checkpoint"


def test_relay_rows_hold_no_plaintext(any_db_world):
    _post_secrets(any_db_world)
    assert _rows_leaking(any_db_world.store) == {}


def test_the_scan_finds_a_planted_plaintext(world):
    """Control: the same scan does report a text that a careless relay stored."""
    negotiation_id = _post_secrets(world)
    with world.store.write() as txn:
        txn.put_nodes(negotiation_id, [(99, 0, PLAINTEXTS[1].encode("utf-8"))])
    assert "tlog_nodes" in _rows_leaking(world.store)
    world.store.engine.dispose()
    assert any(_leaks(p.read_bytes()) for p in _relay_files(world.tmp / "relay.db"))
