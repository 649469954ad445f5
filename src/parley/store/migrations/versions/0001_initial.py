"""Initial relay schema: directory, nonces, negotiations, events, ciphertexts, log nodes, access log.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "enrol_tokens",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("party_name", sa.String(200), nullable=False),
        sa.Column("created_at", sa.String(20), nullable=False),
        sa.Column("used_at", sa.String(20), nullable=True),
    )
    op.create_table(
        "parties",
        sa.Column("party_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("record", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(20), nullable=False),
    )
    op.create_table(
        "devices",
        sa.Column("device_key_id", sa.String(64), primary_key=True),
        sa.Column("party_id", sa.String(64), nullable=False),
        sa.Column("certificate", sa.Text, nullable=False),
        sa.Column("revoked_at", sa.String(20), nullable=True),
        sa.Column("revocation", sa.Text, nullable=True),
    )
    op.create_index("ix_devices_party_id", "devices", ["party_id"])
    op.create_table(
        "request_nonces",
        sa.Column("key_id", sa.String(64), primary_key=True),
        sa.Column("nonce", sa.String(128), primary_key=True),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_request_nonces_expires_at", "request_nonces", ["expires_at"])
    op.create_table(
        "negotiations",
        sa.Column("negotiation_id", sa.String(64), primary_key=True),
        sa.Column("created_at", sa.String(20), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("root", sa.LargeBinary, nullable=False),
        sa.Column("checkpoint", sa.Text, nullable=False),
    )
    op.create_table(
        "negotiation_parties",
        sa.Column("negotiation_id", sa.String(64), primary_key=True),
        sa.Column("party_id", sa.String(64), primary_key=True),
    )
    op.create_index("ix_negotiation_parties_party_id", "negotiation_parties", ["party_id"])
    op.create_table(
        "events",
        sa.Column("negotiation_id", sa.String(64), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("header", sa.LargeBinary, nullable=False),
        sa.Column("signature", sa.String(100), nullable=False),
        sa.Column("received_at", sa.String(20), nullable=False),
    )
    op.create_index("events_by_id", "events", ["negotiation_id", "event_id"], unique=True)
    op.create_table(
        "ciphertexts",
        sa.Column("negotiation_id", sa.String(64), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("idx", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("blob", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "ciphertext_readers",
        sa.Column("negotiation_id", sa.String(64), primary_key=True),
        sa.Column("device_key_id", sa.String(64), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("idx", sa.Integer, primary_key=True, autoincrement=False),
    )
    op.create_table(
        "tlog_nodes",
        sa.Column("negotiation_id", sa.String(64), primary_key=True),
        sa.Column("level", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("hash", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "access_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("negotiation_id", sa.String(64), nullable=False),
        sa.Column("device_key_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("idx", sa.Integer, nullable=False),
        sa.Column("fetched_at", sa.String(20), nullable=False),
    )
    op.create_index("access_by_negotiation", "access_log", ["negotiation_id", "id"])


def downgrade() -> None:
    for table in (
        "access_log", "tlog_nodes", "ciphertext_readers", "ciphertexts", "events", "negotiation_parties",
        "negotiations", "request_nonces", "devices", "parties", "enrol_tokens",
    ):
        op.drop_table(table)
