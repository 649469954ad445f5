"""Relay storage: SQLAlchemy Core tables, Alembic migrations, one contract for SQLite and PostgreSQL.

Nothing here stores plaintext: events are signed cleartext headers (which hold
no titles or text: see ``parley.protocol.events``) and age ciphertexts.
"""

from parley.store.relay_store import RelayStore, open_store

__all__ = ["RelayStore", "open_store"]
