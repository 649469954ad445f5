"""Two relay processes on one PostgreSQL database: a live stream on one is woken by an append on the other
(LISTEN/NOTIFY), and concurrent posts through both keep the log's sequence numbers gap-free."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from test_relay_socket import first_streamed_size, post_from_each, two_party_negotiation

from parley.client.sdk import Client
from parley.client.transport import InProcessTransport
from parley.crypto.keys import SigningKey
from parley.relay.app import Relay, create_app
from parley.store.relay_store import open_store
from parley.tlog.note import Signer

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(60)]

NAME = "relay.test"


def _serve(relay: Relay) -> tuple[uvicorn.Server, threading.Thread, str, socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(relay), host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off", timeout_graceful_shutdown=1))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started
    return server, thread, f"http://127.0.0.1:{port}", sock


def _party(relay: Relay, transport: InProcessTransport, tmp: Path, name: str, clock) -> Client:  # noqa: ANN001
    token = relay.store.create_enrol_token(name, "2026-01-01T00:00:00Z")
    return Client.create_party(tmp / name, relay_url="http://relay", party_name=name, member="Head",
                               token=token, passphrase=None, transport=transport, clock=clock)


def test_two_relays_wake_streams_across_processes_and_stay_gap_free(postgres_url: str, tmp_path: Path,
                                                                     clock) -> None:  # noqa: ANN001
    signer = Signer(NAME, SigningKey.generate().private)
    relay_a = Relay(open_store(postgres_url), signer, NAME, clock=clock)
    relay_b = Relay(open_store(postgres_url), signer, NAME, clock=clock)
    transport_a = InProcessTransport(create_app(relay_a))
    transport_b = InProcessTransport(create_app(relay_b))
    server, thread, url_b, sock = _serve(relay_b)
    clients: list[Client] = []
    try:
        assert relay_a._listener.ready.wait(10) and relay_b._listener.ready.wait(10)
        ua = _party(relay_a, transport_a, tmp_path, "Ukraine", clock)
        ru = _party(relay_a, transport_a, tmp_path, "Russia", clock)
        clients += [ua, ru]
        nid = two_party_negotiation(ua, ru)
        # Russia now talks to relay B only (same profile and cache, other process).
        ru_b = Client(ru.profile, transport=transport_b, clock=clock)
        clients.append(ru_b)
        ru_b.sync(nid)
        size_before = ru_b.sync(nid).size

        # 1. A stream on relay B (real socket) is woken by an append through relay A.
        seen, follower = first_streamed_size(url_b, nid, ru, size_before - 1)
        started = time.monotonic()
        ua.send_message(nid, "posted through relay A")
        follower.join(timeout=10)
        elapsed = time.monotonic() - started
        assert seen and seen[0] == size_before + 1, seen
        # Streams otherwise re-check only every 15 s: this arrived by NOTIFY from the other process.
        assert elapsed < 8, elapsed

        # 2. Concurrent posts through both processes: every acknowledged event stored, seqs gap-free.
        acked = post_from_each(nid, [ua, ru_b])
        assert len(acked) == 30 and len(set(acked)) == 30
        final = relay_a.store.head(nid).size
        rows = relay_b.store.events(nid, -1, 10_000, reader=None)
        assert [r.seq for r in rows] == list(range(final))
        assert set(acked) <= {r.seq for r in rows}
        assert ua.sync(nid).size == ru_b.sync(nid).size == final  # both verify the same log
    finally:
        for c in clients:
            c.close()
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        transport_a.shutdown()
        transport_b.shutdown()
        relay_a.close()
        relay_b.close()
