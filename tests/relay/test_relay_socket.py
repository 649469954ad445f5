"""End to end over a real loopback socket: uvicorn serving the relay, clients over HTTP.

The in-process transport reads responses whole, so the live event stream (SSE)
is tested here, over TCP.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn

from parley.client.sdk import Client, verify_log
from parley.crypto.httpsig import sign_request
from parley.crypto.keys import SigningKey
from parley.errors import AuthError
from parley.relay.app import Relay, create_app
from parley.store.relay_store import open_store
from parley.tlog.note import Signer


@contextmanager
def serving(relay: Relay) -> Iterator[str]:
    """Run the relay's app with uvicorn on a free loopback port; yield its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(relay), host="127.0.0.1", port=port, log_level="warning", access_log=False,
                            lifespan="off", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        assert not thread.is_alive(), "uvicorn did not stop"


def post_from_each(negotiation_id: str, clients: list[Client], count: int = 15) -> list[int]:
    """Every client posts ``count`` messages, all at once from one thread each; returns the acknowledged
    sequence numbers (fails on any error)."""
    acked: list[int] = []
    errors: list[BaseException] = []

    def post_many(client: Client, who: int) -> None:
        try:
            for i in range(count):
                acked.append(client.send_message(negotiation_id, f"client {who} message {i}").seq)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=post_many, args=(client, n)) for n, client in enumerate(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    return acked


def first_streamed_size(url: str, negotiation_id: str, client: Client, after: int) -> tuple[list[int], threading.Thread]:
    """Open ``client``'s live stream on ``url`` after position ``after``; once it is connected (and has had
    time to list nothing new), return the list that will hold the ``size`` of the first page it sends and
    the thread filling it (join it to wait)."""
    request = httpx.Request("GET", f"{url}/v1/negotiations/{negotiation_id}/stream", params={"after": after})
    sign_request(request, key_id=client.identity.device_key_id, private_key=client.identity.signing.private)
    seen: list[int] = []
    connected = threading.Event()

    def follow() -> None:
        with httpx.Client(timeout=httpx.Timeout(10.0, read=12.0)) as http:
            with http.stream("GET", request.url, headers=request.headers) as response:
                assert response.status_code == 200
                connected.set()
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        seen.append(json.loads(line[6:])["size"])
                        return

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    assert connected.wait(10)
    time.sleep(0.3)  # the stream has listed (nothing new) and waits
    return seen, follower


@pytest.fixture
def live(tmp_path: Path, clock):  # noqa: ANN001
    relay = Relay(open_store(str(tmp_path / "relay.db")), Signer("relay.test", SigningKey.generate().private),
                  "relay.test", clock=clock, metrics_token="socket-metrics")
    clients: list[Client] = []
    try:
        with serving(relay) as base_url:
            yield relay, base_url, clients
            for client in clients:
                client.close()
    finally:
        relay.close()


def _party(relay: Relay, base_url: str, home: Path, name: str, clock, clients: list[Client]) -> Client:  # noqa: ANN001
    token = relay.store.create_enrol_token(name, "2026-01-01T00:00:00Z")
    client = Client.create_party(home, relay_url=base_url, party_name=name, member="Head of delegation",
                                 token=token, passphrase=None, clock=clock)
    clients.append(client)
    return client


def two_party_negotiation(convener: Client, other: Client) -> str:
    """Both parties pin (verified) each other; ``convener`` convenes, invites ``other``, who joins."""
    convener.profile.pin(other.profile.party, verified=True)
    other.profile.pin(convener.profile.party, verified=True)
    negotiation_id = convener.create_negotiation()
    convener.invite(negotiation_id, other.profile.party.party_id)
    other.join(negotiation_id)
    convener.sync(negotiation_id)
    return negotiation_id


def test_two_parties_exchange_messages_over_http(live, tmp_path, clock):
    relay, base_url, clients = live
    ukraine = _party(relay, base_url, tmp_path / "ua", "Ukraine", clock, clients)
    russia = _party(relay, base_url, tmp_path / "ru", "Russian Federation", clock, clients)
    assert ukraine.conn.http._transport.__class__ is httpx.HTTPTransport  # a real socket, no ASGI shortcut
    negotiation_id = two_party_negotiation(ukraine, russia)

    ukraine.send_message(negotiation_id, "Our memorandum follows.")
    russia.sync(negotiation_id)
    assert [m["content"]["text"] for m in russia.messages(negotiation_id)] == ["Our memorandum follows."]
    russia.send_message(negotiation_id, "Received; an official response will follow.")
    ukraine.sync(negotiation_id)
    assert [(m["party"], m["content"]["text"]) for m in ukraine.messages(negotiation_id)] == [
        ("Ukraine", "Our memorandum follows."),
        ("Russian Federation", "Received; an official response will follow."),
    ]
    assert verify_log(ukraine, negotiation_id)["size"] == verify_log(russia, negotiation_id)["size"]
    # Unauthenticated endpoints over the socket too.
    with httpx.Client(base_url=base_url, timeout=10) as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        assert "parley_events_accepted_total" in http.get("/metrics", headers={"Authorization": f"Bearer {relay.metrics_token}"}).text
        assert http.get("/v1/negotiations").status_code == 401


def test_event_stream_delivers_a_new_event(live, tmp_path, clock):
    relay, base_url, clients = live
    ukraine = _party(relay, base_url, tmp_path / "ua", "Ukraine", clock, clients)
    russia = _party(relay, base_url, tmp_path / "ru", "Russian Federation", clock, clients)
    negotiation_id = two_party_negotiation(ukraine, russia)
    russia.sync(negotiation_id)
    size = relay.store.head(negotiation_id).size

    # Sign first, then stream: the signature covers the query, and the body (empty) by its digest.
    request = russia.conn.http.build_request("GET", f"/v1/negotiations/{negotiation_id}/stream",
                                             params={"after": size - 1},
                                             timeout=httpx.Timeout(10.0, read=20.0))
    sign_request(request, key_id=russia.identity.device_key_id, private_key=russia.identity.signing.private)
    response = russia.conn.http.send(request, stream=True)
    posted: list = []
    poster = threading.Thread(target=lambda: posted.append(
        ukraine.send_message(negotiation_id, "Meeting in Istanbul on the 15th?")), name="poster", daemon=True)
    try:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()  # each read waits at most 20 s (the read timeout), then fails
        # The stream opens with a comment and nothing else: no events after `size - 1` yet.
        assert next(lines).startswith(":")
        poster.start()  # another party posts while this device listens

        block: list[str] = []
        for _ in range(50):  # bounded: a keep-alive comment or two at most before the event
            line = next(lines)
            if line == "":
                if block and block[0] == "event: events":
                    break
                block = []
                continue
            block.append(line)
        else:
            pytest.fail("no `event: events` block in the stream")
        poster.join(timeout=10)
        (acknowledged,) = posted
        page = json.loads("".join(line[len("data: "):] for line in block[1:] if line.startswith("data: ")))
        assert page["negotiation_id"] == negotiation_id and page["size"] >= acknowledged.size
        (event,) = [e for e in page["events"] if e["seq"] == acknowledged.seq]
        assert event["event"]["header"]["author"] == ukraine.identity.device_key_id
        # The stream hands Russia's device the ciphertext addressed to it, like a listing does.
        assert all(c is not None for c in event["event"]["ciphertexts"])
    finally:
        response.close()
        poster.join(timeout=10)
    # The server lets go of the stream once the client hangs up.
    deadline = time.monotonic() + 5
    while relay._streams[russia.identity.device_key_id] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert relay._streams[russia.identity.device_key_id] == 0
    russia.sync(negotiation_id)
    assert russia.messages(negotiation_id)[-1]["content"]["text"] == "Meeting in Istanbul on the 15th?"


def test_removed_member_live_stream_ends_at_its_removal(live, tmp_path, clock):
    """The attack: a delegate keeps its live stream open after its party removes it, and goes on learning of
    every later event (who posted, when, to whom). The relay admits each page of a stream again, by a state
    that holds every event of the page: the stream ends before any page with the removal or what follows."""
    relay, base_url, clients = live
    ukraine = _party(relay, base_url, tmp_path / "ua", "Ukraine", clock, clients)
    russia = _party(relay, base_url, tmp_path / "ru", "Russian Federation", clock, clients)
    negotiation_id = two_party_negotiation(ukraine, russia)
    delegate = Client(ukraine.add_member(tmp_path / "delegate", member="Delegate", role="delegate",
                                         passphrase=None), clock=clock)
    clients.append(delegate)
    delegate.sync(negotiation_id)
    size = relay.store.head(negotiation_id).size

    request = delegate.conn.http.build_request("GET", f"/v1/negotiations/{negotiation_id}/stream",
                                               params={"after": size - 1}, timeout=httpx.Timeout(10.0, read=20.0))
    sign_request(request, key_id=delegate.identity.device_key_id, private_key=delegate.identity.signing.private)
    response = delegate.conn.http.send(request, stream=True)
    try:
        assert response.status_code == 200
        lines = response.iter_lines()
        assert next(lines).startswith(":")  # connected; nothing after `size - 1` yet
        ukraine.remove_member(delegate.identity.device_key_id)
        russia.send_message(negotiation_id, "After the delegate's removal.")
        rest: list[str] = []
        deadline = time.monotonic() + 10
        for line in lines:  # the stream must end by itself; a page (or a keep-alive after 10 s) stops the wait
            rest.append(line)
            if line.startswith("data: ") or time.monotonic() > deadline:
                break
    finally:
        response.close()
    assert not [line for line in rest if line.startswith("data: ")], rest
    assert any(line.startswith(": closed") for line in rest), rest
    assert relay.store.head(negotiation_id).size >= size + 2  # the removal and the message were appended
    with pytest.raises(AuthError):  # and the stream cannot be opened again (the device is revoked too)
        next(iter(delegate.watch(negotiation_id, deadline=time.monotonic() + 5)))


def test_client_watch_survives_quiet_periods_and_yields_on_new_events(live, tmp_path, clock):
    """`parley channel watch` relies on Client.watch: it must outlive read timeouts and see a late event."""
    relay, base_url, clients = live
    ukraine = _party(relay, base_url, tmp_path / "ua", "Ukraine", clock, clients)
    russia = _party(relay, base_url, tmp_path / "ru", "Russian Federation", clock, clients)
    negotiation_id = two_party_negotiation(ukraine, russia)
    russia.sync(negotiation_id)
    start_size = russia.cache.checkpoint(negotiation_id)[0]

    def post_later() -> None:
        time.sleep(3.5)  # longer than the watch's 2 s read timeout: it must reconnect, not stop
        ukraine.send_message(negotiation_id, "After a quiet spell.")

    poster = threading.Thread(target=post_later)
    poster.start()
    sizes = []
    for size in russia.watch(negotiation_id, deadline=time.monotonic() + 15):
        sizes.append(size)
        if size > start_size:
            break
    poster.join()
    assert sizes and sizes[-1] == start_size + 1
