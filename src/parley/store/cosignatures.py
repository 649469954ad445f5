"""The relay's store of cosignatures (C2SP tlog-cosignature lines by the parties' devices).

Kept apart from ``relay_store`` (the event log): a cosignature is not part of any log, only
evidence about one, and the relay keeps the newest line per device and tree size.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from parley.errors import NotFoundError
from parley.store import schema as t
from parley.store.relay_store import RelayStore

#: the most rows one read returns
MAX_ROWS = 1000


@dataclass(frozen=True)
class StoredCosignature:
    size: int
    device_key_id: str
    party_id: str
    timestamp: int
    line: str
    received_at: str


def add_cosignature(store: RelayStore, negotiation_id: str, *, size: int, device_key_id: str, party_id: str,
                    timestamp: int, line: str, received_at: str) -> None:
    """Keep a device's cosignature of the checkpoint at ``size``; a newer one (larger timestamp)
    replaces an older one for the same size, an older one changes nothing.

    Raises:
        NotFoundError: no such negotiation.  StorageError: the database failed.
    """
    with store._write() as conn:
        number = store._number(conn, {}, t.negotiations.c.negotiation_no, t.negotiations.c.negotiation_id,
                               negotiation_id)
        if number is None:
            raise NotFoundError("no such negotiation")
        insert = store._insert()
        statement = insert(t.cosignatures).values(
            negotiation_no=number, size=size, device_key_id=device_key_id, party_id=party_id,
            timestamp=timestamp, line=line, received_at=received_at)
        conn.execute(statement.on_conflict_do_update(
            index_elements=["negotiation_no", "size", "device_key_id"],
            set_={"timestamp": statement.excluded.timestamp, "line": statement.excluded.line,
                  "received_at": statement.excluded.received_at},
            where=t.cosignatures.c.timestamp < statement.excluded.timestamp))


def cosignatures(store: RelayStore, negotiation_id: str, *, from_size: int = 0,
                 to_size: int | None = None) -> list[StoredCosignature]:
    """Cosignatures of sizes in ``[from_size, to_size]``, largest size first (at most ``MAX_ROWS``).

    Raises:
        NotFoundError: no such negotiation.  StorageError: the database failed.
    """
    with store._read() as conn:
        number = store._negotiation_no(conn, negotiation_id)
        if number is None:
            raise NotFoundError("no such negotiation")
        c = t.cosignatures.c
        query = select(t.cosignatures).where(c.negotiation_no == number, c.size >= from_size)
        if to_size is not None:
            query = query.where(c.size <= to_size)
        rows = conn.execute(query.order_by(c.size.desc(), c.device_key_id).limit(MAX_ROWS)).all()
    return [StoredCosignature(r.size, r.device_key_id, r.party_id, r.timestamp, r.line, r.received_at) for r in rows]
