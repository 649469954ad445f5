"""The relay's cosignature store, on SQLite and PostgreSQL (the ``store`` fixture)."""

from __future__ import annotations

import pytest

from parley.errors import NotFoundError
from parley.store.cosignatures import add_cosignature, cosignatures

NOW = "2026-03-01T10:00:00Z"


def _negotiation(store, negotiation_id: str = "n-cosigned-0001") -> str:
    with store.write() as txn:
        txn.create_negotiation(negotiation_id, NOW)
    return negotiation_id


def _add(store, nid, size, device, timestamp, line=None):
    add_cosignature(store, nid, size=size, device_key_id=device, party_id="p-" + device, timestamp=timestamp,
                    line=line or f"\u2014 parley-witness/{device} {size}-{timestamp}\n", received_at=NOW)


def test_cosignatures_are_kept_per_device_and_size_largest_size_first(store):
    nid = _negotiation(store)
    _add(store, nid, 3, "d1", 100)
    _add(store, nid, 5, "d1", 110)
    _add(store, nid, 5, "d2", 120)
    rows = cosignatures(store, nid)
    assert [(r.size, r.device_key_id, r.timestamp) for r in rows] == [(5, "d1", 110), (5, "d2", 120), (3, "d1", 100)]
    assert [r.size for r in cosignatures(store, nid, from_size=4)] == [5, 5]
    assert [r.size for r in cosignatures(store, nid, to_size=4)] == [3]


def test_a_newer_cosignature_of_the_same_size_replaces_an_older_one_and_not_the_reverse(store):
    nid = _negotiation(store)
    _add(store, nid, 4, "d1", 200, "\u2014 newer\n")
    _add(store, nid, 4, "d1", 150, "\u2014 older\n")
    assert [(r.timestamp, r.line) for r in cosignatures(store, nid)] == [(200, "\u2014 newer\n")]
    _add(store, nid, 4, "d1", 300, "\u2014 newest\n")
    assert [(r.timestamp, r.line) for r in cosignatures(store, nid)] == [(300, "\u2014 newest\n")]


def test_cosignatures_of_an_unknown_negotiation_are_refused(store):
    with pytest.raises(NotFoundError):
        _add(store, "n-nowhere-000", 1, "d1", 1)
    with pytest.raises(NotFoundError):
        cosignatures(store, "n-nowhere-000")


def test_cosignatures_of_two_negotiations_stay_apart(store):
    first, second = _negotiation(store, "n-first-0001"), _negotiation(store, "n-second-001")
    _add(store, first, 1, "d1", 1)
    assert cosignatures(store, second) == []
