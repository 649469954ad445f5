"""Cosignatures: the parties' C2SP tlog-cosignatures over the checkpoints of each negotiation's log.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cosignatures",
        sa.Column("negotiation_no", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("device_key_id", sa.String(64), primary_key=True),
        sa.Column("party_id", sa.String(64), nullable=False),
        sa.Column("timestamp", sa.BigInteger, nullable=False),
        sa.Column("line", sa.Text, nullable=False),
        sa.Column("received_at", sa.String(20), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("cosignatures")
