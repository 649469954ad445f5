"""The relay's device-link mailbox (see ``parley.relay.routes.links``): in the database, so that every relay
process (``--workers``, several relays on one PostgreSQL) sees the same slots. A slot lives ``seconds``."""

from __future__ import annotations

from sqlalchemy import delete, func, select, update

from parley.errors import ConflictError, NotFoundError, RateLimitError
from parley.store import schema as t
from parley.store.relay_store import RelayStore


def _expire(conn, now: int) -> None:  # noqa: ANN001
    conn.execute(delete(t.link_slots).where(t.link_slots.c.expires < now))


def put_request(store: RelayStore, slot: str, request: str, *, now: int, seconds: int, max_pending: int) -> None:
    """Raises: ConflictError (the slot is in use), RateLimitError (too many pending)."""
    with store._write() as conn:
        _expire(conn, now)
        if conn.execute(select(func.count()).select_from(t.link_slots)).scalar_one() >= max_pending:
            raise RateLimitError("too many device links are pending at this relay; try again in a few minutes")
        statement = store._insert()(t.link_slots).values(slot=slot, request=request, answer=None,
                                                         expires=now + seconds)
        if conn.execute(statement.on_conflict_do_nothing(index_elements=["slot"])).rowcount != 1:
            raise ConflictError("this link slot is in use")


def request_of(store: RelayStore, slot: str, *, now: int) -> str:
    """Raises: NotFoundError (none, or expired)."""
    with store._read() as conn:
        row = conn.execute(select(t.link_slots.c.request).where(t.link_slots.c.slot == slot,
                                                                t.link_slots.c.expires >= now)).first()
    if row is None:
        raise NotFoundError("no pending device link for this code (expired after 10 minutes, or mistyped)")
    return row.request


def put_answer(store: RelayStore, slot: str, answer: str, *, now: int) -> None:
    """Raises: NotFoundError (no such slot), ConflictError (answered already)."""
    with store._write() as conn:
        row = conn.execute(select(t.link_slots.c.answer).where(t.link_slots.c.slot == slot,
                                                               t.link_slots.c.expires >= now)).first()
        if row is None:
            raise NotFoundError("no pending device link for this code")
        if row.answer is not None:
            raise ConflictError("this device link was answered already")
        conn.execute(update(t.link_slots).where(t.link_slots.c.slot == slot).values(answer=answer))


def take_answer(store: RelayStore, slot: str, *, now: int) -> str:
    """The answer, once (the slot is then removed). Raises: NotFoundError (not answered yet, or no slot)."""
    with store._write() as conn:
        row = conn.execute(select(t.link_slots.c.answer).where(t.link_slots.c.slot == slot,
                                                               t.link_slots.c.expires >= now)).first()
        if row is None or row.answer is None:
            raise NotFoundError("the device link has not been answered yet")
        conn.execute(delete(t.link_slots).where(t.link_slots.c.slot == slot))
        return row.answer
