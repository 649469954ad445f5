"""Device-link mailbox: the two short messages of a device link, kept minutes, shared by every relay process.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "link_slots",
        sa.Column("slot", sa.String(64), primary_key=True),
        sa.Column("request", sa.Text, nullable=False),
        sa.Column("answer", sa.Text, nullable=True),
        sa.Column("expires", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("link_slots")
