"""Where the relay keeps each node of a negotiation's Merkle log (revision 0005).

Level 0, the leaf hash of event ``seq``, is ``events.leaf_hash`` of that event's row; every higher
complete-subtree hash is a row of ``tlog_nodes``. ``nodes_query`` reads any set of keys in one
statement, each arm answered from a primary key.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import CompoundSelect, Integer, Select, and_, literal, or_, select, union_all

from parley.store import schema as t
from parley.tlog.merkle import NodeKey


def nodes_query(negotiation_no: int, keys: Sequence[NodeKey]) -> Select | CompoundSelect:
    """One SELECT of ``(level, idx, hash)`` rows for the nodes ``keys`` of one negotiation (absent
    nodes have no row). ``keys`` must not be empty."""
    by_level: dict[int, list[int]] = {}
    for level, idx in keys:
        by_level.setdefault(level, []).append(idx)
    leaves = by_level.pop(0, None)
    arms = []
    if leaves is not None:
        ev = t.events
        arms.append(select(literal(0, Integer).label("level"), ev.c.seq.label("idx"), ev.c.leaf_hash.label("hash"))
                    .where(and_(ev.c.negotiation_no == negotiation_no, ev.c.seq.in_(leaves))))
    if by_level:
        # One (level = L AND idx IN (...)) arm per level: both engines answer it from the primary
        # key, where a row-value IN (VALUES ...) makes SQLite scan the table.
        nodes = t.tlog_nodes
        arms.append(select(nodes.c.level, nodes.c.idx, nodes.c.hash).where(
            and_(nodes.c.negotiation_no == negotiation_no,
                 or_(*(and_(nodes.c.level == level, nodes.c.idx.in_(idxs)) for level, idxs in by_level.items())))))
    return arms[0] if len(arms) == 1 else union_all(*arms)
