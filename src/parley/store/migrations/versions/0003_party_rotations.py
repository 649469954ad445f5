"""Party root key rotations in the directory.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "party_rotations",
        sa.Column("party_id", sa.String(64), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("rotation", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("party_rotations")
