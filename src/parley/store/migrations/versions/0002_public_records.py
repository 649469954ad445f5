"""Public records: released agreements and public statements, served without authentication.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "public_records",
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("record_id", sa.String(128), primary_key=True),
        sa.Column("negotiation_id", sa.String(64), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(20), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("public_records")
