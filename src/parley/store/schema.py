"""The relay schema. Alembic migrations in ``migrations/versions`` create exactly this."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

enrol_tokens = Table(
    "enrol_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("party_name", String(200), nullable=False),
    Column("created_at", String(20), nullable=False),
    Column("used_at", String(20), nullable=True),
)

parties = Table(
    "parties",
    metadata,
    Column("party_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("record", Text, nullable=False),
    Column("created_at", String(20), nullable=False),
)

devices = Table(
    "devices",
    metadata,
    Column("device_key_id", String(64), primary_key=True),
    Column("party_id", String(64), nullable=False, index=True),
    Column("certificate", Text, nullable=False),
    Column("revoked_at", String(20), nullable=True),
    Column("revocation", Text, nullable=True),
)

# Device key ids as small numbers: reader lists and the access log name a device by its number.
# A device gets one when it is first a recipient; a number never changes once committed.
device_numbers = Table(
    "device_numbers",
    metadata,
    Column("device_no", Integer, primary_key=True, autoincrement=True),
    Column("device_key_id", String(64), nullable=False),
    Index("device_numbers_by_key", "device_key_id", unique=True),
)

request_nonces = Table(
    "request_nonces",
    metadata,
    Column("key_id", LargeBinary, primary_key=True),  # ``codec.pack_key_id``
    Column("nonce", String(128), primary_key=True),
    Column("expires_at", BigInteger, nullable=False, index=True),
    sqlite_with_rowid=False,
)

# ``negotiation_no`` names the negotiation in every per-event table.
negotiations = Table(
    "negotiations",
    metadata,
    Column("negotiation_no", Integer, primary_key=True, autoincrement=True),
    Column("negotiation_id", String(64), nullable=False),
    Column("created_at", String(20), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("root", LargeBinary, nullable=False),
    Column("checkpoint", Text, nullable=False),
    Index("negotiations_by_id", "negotiation_id", unique=True),
)

# The member parties of a negotiation as the relay's state says, so "my negotiations" is one query.
negotiation_parties = Table(
    "negotiation_parties",
    metadata,
    Column("negotiation_id", String(64), primary_key=True),
    Column("party_id", String(64), primary_key=True, index=True),
)

# Columns in the compact forms of ``parley.store.codec``: event_id 32 bytes, signature 64 bytes,
# header with its hex ids as bytes. ``leaf_hash``: the event's Merkle leaf hash, the log's level-0 node
# (revision 0005: ``tlog_nodes`` holds levels >= 1 only).
events = Table(
    "events",
    metadata,
    Column("negotiation_no", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("event_id", LargeBinary, nullable=False),
    Column("header", LargeBinary, nullable=False),
    Column("signature", LargeBinary, nullable=False),
    Column("received_at", String(20), nullable=False),
    Column("leaf_hash", LargeBinary, nullable=False),
    Index("events_by_id", "negotiation_no", "event_id", unique=True),
)

# ``readers``: the device numbers that may fetch the ciphertext, the relay's read access rule
# (``codec.pack_readers``: ",3,17,42,").
ciphertexts = Table(
    "ciphertexts",
    metadata,
    Column("negotiation_no", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("readers", Text, nullable=False),
    Column("blob", LargeBinary, nullable=False),
)

# Complete-subtree hashes of each negotiation's log, levels >= 1 (level 0 is ``events.leaf_hash``).
tlog_nodes = Table(
    "tlog_nodes",
    metadata,
    Column("negotiation_no", Integer, primary_key=True, autoincrement=False),
    Column("level", Integer, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary, nullable=False),
    sqlite_with_rowid=False,
)

access_log = Table(
    "access_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("negotiation_no", Integer, nullable=False),
    Column("device_no", Integer, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("idx", Integer, nullable=False),
    Column("fetched_at", String(20), nullable=False),
    Index("access_by_negotiation", "negotiation_no", "id"),
)

# Released agreements and public statements: the only content the relay serves without authentication.
public_records = Table(
    "public_records",
    metadata,
    Column("kind", String(32), primary_key=True),
    Column("record_id", String(128), primary_key=True),
    Column("negotiation_id", String(64), nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("content", Text, nullable=False),
    Column("created_at", String(20), nullable=False),
)

# Root key rotations of a party, in order: the directory's copy of each party's root chain.
party_rotations = Table(
    "party_rotations",
    metadata,
    Column("party_id", String(64), primary_key=True),
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("rotation", Text, nullable=False),
)

# Cosignatures (C2SP tlog-cosignature) by the parties' devices over the checkpoint of a size of a
# negotiation's log: the relay keeps the newest per device and size and serves them back.
cosignatures = Table(
    "cosignatures",
    metadata,
    Column("negotiation_no", Integer, primary_key=True, autoincrement=False),
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("device_key_id", String(64), primary_key=True),
    Column("party_id", String(64), nullable=False),
    Column("timestamp", BigInteger, nullable=False),
    Column("line", Text, nullable=False),
    Column("received_at", String(20), nullable=False),
)

#: the device-link mailbox (``parley.store.links``): a new device's request and the answer, for minutes
link_slots = Table(
    "link_slots",
    metadata,
    Column("slot", String(64), primary_key=True),
    Column("request", Text, nullable=False),
    Column("answer", Text, nullable=True),
    Column("expires", BigInteger, nullable=False),
)
