"""Shared fixtures: databases (SQLite and PostgreSQL), an in-process relay, and a world of parties.

PostgreSQL tests read ``PARLEY_TEST_DATABASE_URL``; each test gets its own schema.
Without the variable they are skipped, unless ``PARLEY_REQUIRE_POSTGRES=1`` (CI),
where a missing database is a failure.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

from parley.client.sdk import Client
from parley.client.transport import InProcessTransport
from parley.crypto.keys import SigningKey
from parley.relay.app import Relay, create_app
from parley.store.engine import database_url
from parley.store.relay_store import RelayStore, open_store
from parley.tlog.note import Signer


@pytest.fixture(autouse=True)
def _keystores_opened_once(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test but the keystore's own opens a keystore with scrypt once (``tests/keystore_memo.py``)."""
    if Path(str(request.path)).parent.name != "crypto":
        from keystore_memo import open_keystores_once

        open_keystores_once(monkeypatch)


RELAY_NAME = "relay.test"
#: the bearer token /metrics of test relays asks for (tests send f"Bearer {relay.metrics_token}")
METRICS_TOKEN = "test-metrics-token"  # noqa: S105


def _postgres_base() -> str | None:
    url = os.environ.get("PARLEY_TEST_DATABASE_URL")
    if not url:
        if os.environ.get("PARLEY_REQUIRE_POSTGRES") == "1":
            pytest.fail("PARLEY_REQUIRE_POSTGRES=1 but PARLEY_TEST_DATABASE_URL is not set")
        return None
    return url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    base = _postgres_base()
    if base is None:
        pytest.skip("PostgreSQL not configured (set PARLEY_TEST_DATABASE_URL)")
    schema = "t_" + secrets.token_hex(6)
    admin = create_engine(database_url(base))
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # noqa: BLE001
        if os.environ.get("PARLEY_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL unreachable: {exc}")
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    separator = "&" if "?" in base else "?"
    yield f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return str(tmp_path / "relay.db")
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def store(db_url: str) -> Iterator[RelayStore]:
    relay_store = open_store(db_url)
    yield relay_store
    relay_store.close()


class Clock:
    """A settable clock shared by relay and clients."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class World:
    """An in-process relay and helpers to populate it with parties, members and negotiations."""

    relay: Relay
    transport: InProcessTransport
    tmp: Path
    clock: Clock
    clients: list[Client] = field(default_factory=list)

    @property
    def store(self) -> RelayStore:
        return self.relay.store

    def party(self, name: str, member: str = "Head of delegation") -> Client:
        """A new party with its head's client (profile without keystore, for speed)."""
        token = self.store.create_enrol_token(name, "2026-01-01T00:00:00Z")
        client = Client.create_party(self.tmp / f"{name}-{secrets.token_hex(3)}", relay_url="http://relay",
                                     party_name=name, member=member, token=token, passphrase=None,
                                     transport=self.transport, clock=self.clock)
        self.clients.append(client)
        return client

    def member(self, admin: Client, member: str, role: str = "delegate") -> Client:
        profile = admin.add_member(self.tmp / f"{member}-{secrets.token_hex(3)}".replace(" ", "_"), member=member,
                                   role=role, passphrase=None)
        client = Client(profile, transport=self.transport, clock=self.clock)
        self.clients.append(client)
        return client

    def negotiation(self, convener: Client, *others: Client) -> str:
        """A negotiation with every party in, each having pinned (and verified) the others."""
        everyone = (convener, *others)
        for a in everyone:
            for b in everyone:
                if a.profile.party.party_id != b.profile.party.party_id:
                    a.profile.pin(b.profile.party, verified=True)
        negotiation_id = convener.create_negotiation()
        for other in others:
            convener.invite(negotiation_id, other.profile.party.party_id)
            other.join(negotiation_id)
        for client in everyone:
            client.sync(negotiation_id)
        return negotiation_id

    def close(self) -> None:
        for client in self.clients:
            client.close()


def make_relay(db: str, clock: Callable[[], datetime], signer: Signer | None = None) -> Relay:
    signer = signer or Signer(RELAY_NAME, SigningKey.generate().private)
    return Relay(open_store(db), signer, RELAY_NAME, clock=clock, metrics_token=METRICS_TOKEN)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def world(tmp_path: Path, clock: Clock) -> Iterator[World]:
    """A relay on SQLite with no parties yet."""
    relay = make_relay(str(tmp_path / "relay.db"), clock)
    transport = InProcessTransport(create_app(relay))
    created = World(relay, transport, tmp_path, clock)
    yield created
    created.close()
    transport.shutdown()
    relay.close()


@pytest.fixture
def any_db_world(db_url: str, tmp_path: Path, clock: Clock) -> Iterator[World]:
    """The same as ``world``, on SQLite and on PostgreSQL."""
    relay = make_relay(db_url, clock)
    transport = InProcessTransport(create_app(relay))
    created = World(relay, transport, tmp_path, clock)
    yield created
    created.close()
    transport.shutdown()
    relay.close()
