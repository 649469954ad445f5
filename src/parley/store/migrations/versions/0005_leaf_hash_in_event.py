"""The leaf hash of each event (the log's level-0 node) lives in the event row.

- ``events`` gets ``leaf_hash`` (32 bytes, NOT NULL): the Merkle leaf hash of the event.
- ``tlog_nodes`` keeps only levels >= 1. A level-0 row cost more than its 32 bytes of hash (on
  PostgreSQL a 24-byte tuple header and a B-tree entry each), and there is one per event.

Existing level-0 rows are copied into their event rows and deleted, in batches of event numbers.
An event without its level-0 node, or a level-0 node without its event, stops the upgrade (the
log would not be complete afterwards). Downgrade is not supported: restore a backup taken before
the upgrade.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BATCH = 2000


def _move_leaves(conn: sa.Connection, number: int, size: int) -> None:
    """One negotiation's level-0 nodes into its event rows, ``BATCH`` event numbers at a time."""
    for low in range(0, size, BATCH):
        span = {"n": number, "a": low, "z": low + BATCH}
        conn.execute(sa.text(
            "UPDATE events SET leaf_hash = (SELECT tlog_nodes.hash FROM tlog_nodes "
            "WHERE tlog_nodes.negotiation_no = events.negotiation_no AND tlog_nodes.level = 0 "
            "AND tlog_nodes.idx = events.seq) WHERE negotiation_no = :n AND seq >= :a AND seq < :z"), span)
        conn.execute(sa.text("DELETE FROM tlog_nodes WHERE negotiation_no = :n AND level = 0 "
                             "AND idx >= :a AND idx < :z AND EXISTS (SELECT 1 FROM events "
                             "WHERE events.negotiation_no = :n AND events.seq = tlog_nodes.idx)"), span)


def upgrade() -> None:
    conn = op.get_bind()
    op.add_column("events", sa.Column("leaf_hash", sa.LargeBinary, nullable=True))
    spans = conn.execute(sa.text("SELECT negotiation_no, MAX(seq) + 1 AS size FROM events "
                                 "GROUP BY negotiation_no ORDER BY negotiation_no")).all()
    for row in spans:
        _move_leaves(conn, row.negotiation_no, row.size)
    missing = conn.execute(sa.text("SELECT negotiation_no, seq FROM events WHERE leaf_hash IS NULL LIMIT 3")).all()
    if missing:
        raise RuntimeError(f"events without their level-0 log node (negotiation_no, seq) {[tuple(r) for r in missing]}: "
                           "the database is not complete, not migrated")
    orphans = conn.execute(sa.text("SELECT negotiation_no, idx FROM tlog_nodes WHERE level = 0 LIMIT 3")).all()
    if orphans:
        raise RuntimeError(f"level-0 log nodes without their event (negotiation_no, idx) {[tuple(r) for r in orphans]}:"
                           " not migrated")
    if conn.dialect.name == "postgresql":
        op.alter_column("events", "leaf_hash", existing_type=sa.LargeBinary, nullable=False)
    else:
        # SQLite cannot add NOT NULL to a column in place: the table is rebuilt (one INSERT ... SELECT).
        with op.batch_alter_table("events", recreate="always") as batch:
            batch.alter_column("leaf_hash", existing_type=sa.LargeBinary, nullable=False)


def downgrade() -> None:
    raise NotImplementedError("revision 0005 cannot be downgraded: restore a backup taken before the upgrade")
