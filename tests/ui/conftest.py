"""Fixtures for the UI tests: an in-process relay, two delegations, and each member's UI on a loopback port.

Browser tests run Debian's Chromium through Playwright (``/usr/bin/chromium``; nothing is downloaded).
Without it they are skipped, unless ``CI`` is set, where a missing browser is a failure.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest

from parley.client.sdk import Client
from parley.client.transport import InProcessTransport
from parley.client.workflow import Negotiation
from parley.crypto.keys import SigningKey
from parley.relay.app import Relay, create_app
from parley.store.relay_store import open_store
from parley.tlog.note import Signer
from parley.ui.server import UIServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Talks:
    """Ukraine (convener) and the Russian Federation, both heads, each with a UI; two key issues agreed upon."""

    relay: Relay
    transport: InProcessTransport
    db: Path
    ukraine: Client
    russia: Client
    nid: str
    issues: dict[str, str]
    ui: dict[str, UIServer] = field(default_factory=dict)


def _party(relay: Relay, transport: InProcessTransport, home: Path, name: str, member: str) -> Client:
    token = relay.store.create_enrol_token(name, "2030-01-01T00:00:00Z")
    return Client.create_party(home / f"{name}-{secrets.token_hex(3)}".replace(" ", "_"), relay_url="http://relay",
                               party_name=name, member=member, token=token, passphrase=None, transport=transport,
                               clock=_now)


@pytest.fixture(scope="module")
def talks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Talks]:
    tmp = tmp_path_factory.mktemp("ui")
    db = tmp / "relay.db"
    relay = Relay(open_store(str(db)), Signer("relay.test", SigningKey.generate().private), "relay.test", clock=_now)
    transport = InProcessTransport(create_app(relay))
    ukraine = _party(relay, transport, tmp, "Ukraine", "Head of delegation (Kyiv)")
    russia = _party(relay, transport, tmp, "Russian Federation", "Head of delegation (Moscow)")
    for a, b in ((ukraine, russia), (russia, ukraine)):
        a.profile.pin(b.profile.party, verified=True)
    nid = ukraine.create_negotiation()
    ukraine.invite(nid, russia.profile.party.party_id)
    russia.join(nid)
    negotiation = Negotiation(ukraine, nid)
    issues = {"ceasefire": negotiation.add_issue("Ceasefire", "ceasefire"),
              "prisoners": negotiation.add_issue("Prisoners of war", "prisoners")}
    russia.sync(nid)
    created = Talks(relay, transport, db, ukraine, russia, nid, issues)
    for key, client in (("ukraine", ukraine), ("russia", russia)):
        created.ui[key] = UIServer(client, interval=0.5, full_verify_every=3600).start()
    yield created
    for server in created.ui.values():
        server.stop()
    ukraine.close()
    russia.close()
    transport.shutdown()
    relay.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {CHROMIUM} is missing: install Debian chromium (scripts/system-deps.sh)")
        pytest.skip(f"{CHROMIUM} is missing: install Debian chromium (PARLEY_UI_TESTS=1 scripts/system-deps.sh)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("CI is set but the playwright package is missing: pip install -e '.[test]'")
        pytest.skip("the playwright package is missing: pip install -e '.[test]'")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class ConsoleWatch:
    """Console errors and page errors of every page opened through it."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def attach(self, page) -> None:  # noqa: ANN001
        page.on("console", lambda msg: self.errors.append(f"{page.url}: {msg.text}") if msg.type == "error" else None)
        page.on("pageerror", lambda exc: self.errors.append(f"{page.url}: {exc}"))


@pytest.fixture(scope="module")
def console() -> ConsoleWatch:
    return ConsoleWatch()


@pytest.fixture(scope="module")
def pages(browser, talks: Talks, console: ConsoleWatch) -> Iterator[dict[str, object]]:  # noqa: ANN001
    """One signed-in browser page per member (separate contexts: separate cookies)."""
    opened = {}
    contexts = []
    for key, server in talks.ui.items():
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        console.attach(page)
        page.goto(server.login_url())
        opened[key] = page
    yield opened
    for context in contexts:
        context.close()
    assert console.errors == [], "console errors:\n" + "\n".join(console.errors)
