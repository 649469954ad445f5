"""Fixtures for the malicious-relay tests: a three-party negotiation and a way to compromise a client's relay."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from malicious_relay import MaliciousRelay, use_transport

from parley.client.sdk import Client
from parley.client.transport import InProcessTransport
from parley.relay.app import Relay, create_app
from parley.store.relay_store import open_store


@dataclass
class Trio:
    """Ukraine and the Russian Federation negotiate; Switzerland mediates. Everyone synced."""

    ukraine: Client
    russia: Client
    swiss: Client
    nid: str


@pytest.fixture
def trio(world) -> Trio:  # noqa: ANN001
    ukraine = world.party("Ukraine")
    russia = world.party("Russian Federation")
    swiss = world.party("Switzerland")
    nid = world.negotiation(ukraine, russia, swiss)
    return Trio(ukraine, russia, swiss, nid)


@pytest.fixture
def compromise(world) -> Callable[[Client], MaliciousRelay]:  # noqa: ANN001
    """``compromise(client)``: from now on this client's relay is the malicious one (honest until told)."""

    def attach(client: Client) -> MaliciousRelay:
        evil = MaliciousRelay(world.transport, world.relay, reader=client.identity.device_key_id)
        use_transport(client, evil)
        return evil

    return attach


@dataclass
class Fork:
    relay: Relay
    transport: InProcessTransport


@pytest.fixture
def fork_relay(world, tmp_path: Path) -> Iterator[Callable[[], Fork]]:  # noqa: ANN001
    """``fork_relay()``: a second relay process with the SAME signing key, started from a copy of the
    first relay's database as it is now (the common prefix); from then on the two logs diverge."""
    started: list[Fork] = []

    def start() -> Fork:
        copy_path = tmp_path / f"fork-{len(started)}.db"
        source = sqlite3.connect(str(tmp_path / "relay.db"))
        target = sqlite3.connect(str(copy_path))
        try:
            source.backup(target)  # consistent even while the first relay has the file open (WAL)
        finally:
            source.close()
            target.close()
        relay = Relay(open_store(str(copy_path)), world.relay.signer, world.relay.name, clock=world.clock)
        fork = Fork(relay, InProcessTransport(create_app(relay)))
        started.append(fork)
        return fork

    yield start
    for fork in started:
        fork.transport.shutdown()
        fork.relay.close()
