"""Fixtures of protocol tests; the builders live in ``protocol_builders``."""

from __future__ import annotations

import pytest
from protocol_builders import Negotiation, Party


@pytest.fixture
def parties() -> tuple[Party, Party, Party]:
    """Three parties, each with a head; A also has a delegate."""
    a = Party.create("Ukraine")
    a.device("Delegate A", role="delegate")
    return a, Party.create("Russian Federation"), Party.create("Türkiye")


@pytest.fixture
def negotiation(parties: tuple[Party, Party, Party]) -> Negotiation:
    """A negotiation convened by A with B and C joined."""
    a, b, c = parties
    neg = Negotiation()
    neg.genesis(a)
    for other in (b, c):
        neg.invite(a.head, other)
        neg.join(other)
    return neg
