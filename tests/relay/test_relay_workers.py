"""Several relay workers, one writer (``parley relay serve --workers N``, ``parley.relay.sequencer``).

In-process: the writer (an ``Ingestor`` behind a ``SequencerServer``) and two worker ``Relay``s that reach
it over a real abstract Unix socket, on one SQLite file. End to end: the ``parley relay serve --workers 2``
command over a real loopback socket.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client as Connect
from pathlib import Path

import httpx
import pytest
from test_relay_socket import first_streamed_size, post_from_each, serving, two_party_negotiation

from parley.client.sdk import Client
from parley.client.transport import InProcessTransport
from parley.crypto.httpsig import sign_request
from parley.crypto.keys import SigningKey
from parley.errors import NotFoundError, ProtocolError, SignatureError, StorageError
from parley.protocol.events import Envelope
from parley.protocol.state import PARTY_LEAVE
from parley.relay.app import Relay, create_app
from parley.relay.ingest import Ingestor
from parley.relay.sequencer import RemoteIngestor, SequencerServer, new_address
from parley.settings import DEFAULT_LIMITS
from parley.store.relay_store import open_store
from parley.tlog.note import Signer

pytestmark = pytest.mark.timeout(90)

NAME = "relay.test"


@dataclass
class Cluster:
    writer: SequencerServer
    ingestor: Ingestor
    address: tuple[str, bytes]
    workers: list[Relay]
    transports: list[InProcessTransport]


@pytest.fixture
def cluster(tmp_path: Path, clock) -> Iterator[Cluster]:  # noqa: ANN001
    database = str(tmp_path / "relay.db")
    signer = Signer(NAME, SigningKey.generate().private)
    ingestor = Ingestor(open_store(database), signer, NAME, DEFAULT_LIMITS, clock)
    address = new_address()
    writer = SequencerServer(ingestor, *address)
    workers = [Relay(open_store(database), signer, NAME, clock=clock, writer=address, metrics_token="workers-metrics")
               for _ in range(2)]
    for worker in workers:
        worker.ingestor._exit_when_gone = False  # a test process must not SIGTERM itself
    transports = [InProcessTransport(create_app(w)) for w in workers]
    try:
        yield Cluster(writer, ingestor, address, workers, transports)
    finally:
        for transport in transports:
            transport.shutdown()
        for worker in workers:
            worker.close()
        writer.close()
        ingestor.close()
        ingestor.store.close()


def _party(relay: Relay, transport: InProcessTransport, tmp: Path, name: str, clock) -> Client:  # noqa: ANN001
    token = relay.store.create_enrol_token(name, "2026-01-01T00:00:00Z")
    return Client.create_party(tmp / name, relay_url="http://relay", party_name=name, member="Head",
                               token=token, passphrase=None, transport=transport, clock=clock)


def _negotiation(cluster: Cluster, tmp: Path, clock) -> tuple[str, Client, Client]:  # noqa: ANN001
    """Ukraine on worker 0, Russia on worker 1, one negotiation both joined."""
    ua = _party(cluster.workers[0], cluster.transports[0], tmp, "Ukraine", clock)
    ru = _party(cluster.workers[1], cluster.transports[1], tmp, "Russia", clock)
    return two_party_negotiation(ua, ru), ua, ru


def test_two_workers_share_one_writer_gap_free(cluster: Cluster, tmp_path: Path, clock) -> None:  # noqa: ANN001
    nid, ua, ru = _negotiation(cluster, tmp_path, clock)
    acked = post_from_each(nid, [ua, ru])
    assert len(set(acked)) == 30
    final = cluster.ingestor.store.head(nid).size
    rows = cluster.workers[1].store.events(nid, -1, 10_000, reader=None)
    assert [r.seq for r in rows] == list(range(final))
    assert ua.sync(nid).size == ru.sync(nid).size == final  # both verify the same log, checkpoint and all
    # Only the writer writes: its counters are what every worker's /metrics reports.
    with httpx.Client(transport=cluster.transports[1], base_url="http://relay") as http:
        metrics = http.get("/metrics", headers={"Authorization": "Bearer workers-metrics"}).text
    assert f"parley_events_accepted_total {float(cluster.ingestor.events_accepted)}" in metrics
    assert cluster.ingestor.events_accepted >= 30


def test_writer_refusal_reaches_the_worker_with_its_class(cluster: Cluster, tmp_path: Path, clock) -> None:  # noqa: ANN001
    nid, ua, ru = _negotiation(cluster, tmp_path, clock)
    posted = ua.send_message(nid, "once")
    stored = cluster.ingestor.store.events(nid, posted.seq - 1, 1, reader=None)[0]
    envelope = Envelope(Envelope.from_json(_wire(stored)).header, stored.signature,
                        tuple(stored.ciphertexts[i] for i in sorted(stored.ciphertexts)))
    with pytest.raises(ProtocolError, match="replayed event"):
        cluster.workers[1].ingestor.submit(envelope).result(timeout=10)


def _wire(stored) -> bytes:  # noqa: ANN001
    import base64

    return json.dumps({"header": json.loads(stored.header), "signature": stored.signature,
                       "ciphertexts": [base64.b64encode(stored.ciphertexts[i]).decode()
                                       for i in sorted(stored.ciphertexts)]}).encode()


def test_forged_event_through_a_worker_is_refused(cluster: Cluster, tmp_path: Path, clock) -> None:  # noqa: ANN001
    """The attack: an event whose signature is not its author's, posted through a worker, or handed to the
    writer with a key that is not the author's as if a worker had checked it."""
    nid, ua, ru = _negotiation(cluster, tmp_path, clock)
    posted = ua.send_message(nid, "genuine")
    stored = cluster.ingestor.store.events(nid, posted.seq - 1, 1, reader=None)[0]
    genuine = Envelope.from_json(_wire(stored))
    other_key = SigningKey.generate()
    forged_header = dataclasses.replace(genuine.header, nonce=genuine.header.nonce[::-1])  # a new event id
    forged = Envelope(forged_header, other_key.sign(b"x"), genuine.ciphertexts)
    before = cluster.ingestor.store.head(nid).size
    with pytest.raises(SignatureError):
        cluster.workers[0].ingestor.submit(forged).result(timeout=10)  # the writer checks it: no key claimed
    with pytest.raises(SignatureError):  # a claimed check with a key that is not the author's is not trusted
        cluster.workers[0].ingestor.submit(forged, verified_key=other_key.public_b64).result(timeout=10)
    assert cluster.ingestor.store.head(nid).size == before


def test_process_without_the_key_cannot_reach_the_writer(cluster: Cluster, tmp_path: Path, clock) -> None:  # noqa: ANN001
    """The attack: another local process connects to the writer's socket to slip events past the workers'
    checks. The handshake needs the random key only the supervisor and its workers hold."""
    address, _key = cluster.address
    with pytest.raises(AuthenticationError):
        Connect(address, family="AF_UNIX", authkey=b"guessed" * 4)
    nid, ua, _ru = _negotiation(cluster, tmp_path, clock)  # the writer still serves its workers
    assert ua.send_message(nid, "still fine").seq > 0


def test_stalled_local_connection_does_not_shut_workers_out(cluster: Cluster, tmp_path: Path, clock) -> None:  # noqa: ANN001
    """The attack: a local process connects to the writer's socket and never answers the handshake. Each
    handshake runs apart, with a deadline, so a worker (a restarted one, say) still gets in at once."""
    address, key = cluster.address
    stalled = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stalled.connect(address)
    try:
        started = time.monotonic()
        late = RemoteIngestor(cluster.workers[0].store, DEFAULT_LIMITS, address, key, exit_when_gone=False)
        assert time.monotonic() - started < 4  # in, well before the stalled handshake's 5 s deadline
        assert late.events_accepted >= 0  # the late worker talks to the writer
        late.close()
        stalled.settimeout(10)
        assert stalled.recv(4096) is not None  # the challenge was sent...
        assert stalled.recv(4096) == b""  # ...and the connection dropped after the deadline
    finally:
        stalled.close()


def test_worker_that_stops_reading_does_not_stop_the_writer(cluster: Cluster, monkeypatch) -> None:  # noqa: ANN001
    """A hung worker no longer reads its connection: once the socket buffer is full, the writer's sends to it
    time out and it is hung up on, instead of blocking the writer thread (and every post) for good."""
    from parley.relay import sequencer

    monkeypatch.setattr(sequencer, "SEND_TIMEOUT_SECONDS", 1)
    address, key = cluster.address
    stuck = Connect(address, family="AF_UNIX", authkey=key)  # authenticated, then never reads
    try:
        deadline = time.monotonic() + 5
        while len(cluster.writer._connections) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(cluster.writer._connections) == 3
        started = time.monotonic()
        for _ in range(3000):  # ~3 MB of broadcasts: far beyond a socket buffer
            cluster.writer.broadcast_appended("n-" + "x" * 1000, 1)
        assert time.monotonic() - started < 8
        deadline = time.monotonic() + 5
        while len(cluster.writer._connections) > 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(cluster.writer._connections) == 2  # the stuck one hung up; the real workers still in
    finally:
        stuck.close()


def test_live_stream_on_one_worker_wakes_on_append_through_the_other(cluster: Cluster, tmp_path: Path,
                                                                     clock) -> None:  # noqa: ANN001
    nid, ua, ru = _negotiation(cluster, tmp_path, clock)
    size_before = ru.sync(nid).size
    with serving(cluster.workers[1]) as url:
        seen, follower = first_streamed_size(url, nid, ru, size_before - 1)
        started = time.monotonic()
        ua.send_message(nid, "through worker 0")
        follower.join(timeout=12)
        assert seen and seen[0] == size_before + 1, seen
        assert time.monotonic() - started < 8  # woken by the writer's broadcast, not the 15 s re-check


def test_party_that_left_cannot_read_through_a_worker_whose_state_predates_it(cluster: Cluster, tmp_path: Path,
                                                                              clock) -> None:  # noqa: ANN001
    """The attack: a party that left reads on through a worker whose own copy of the negotiation still shows it
    in. A worker answers reads by the writer's current state, and without applying the log again itself."""
    nid, _ua, ru = _negotiation(cluster, tmp_path, clock)
    ru.send_message(nid, "before leaving")
    stale = cluster.workers[1].ingestor.cached_state(nid)
    assert stale is not None and ru.profile.party.party_id in stale.parties
    ru._post_public(nid, PARTY_LEAVE, {})  # posted through worker 1
    with pytest.raises(NotFoundError):  # the client's next listing is refused already
        ru.sync(nid)
    assert cluster.ingestor.cached_state(nid).parties[ru.profile.party.party_id].status == "left"
    assert stale.parties[ru.profile.party.party_id].status != "left"  # still the old picture there
    size_seen = stale.size
    with httpx.Client(transport=cluster.transports[1]) as http:
        request = httpx.Request("GET", f"http://relay/v1/negotiations/{nid}/events", params={"after": -1})
        sign_request(request, key_id=ru.identity.device_key_id, private_key=ru.identity.signing.private)
        answer = http.send(request)
    assert answer.status_code == 404, answer.text
    assert cluster.workers[1].ingestor.cached_state(nid).size == size_seen  # nothing applied again


def test_revocation_on_one_worker_drops_the_cached_device_on_the_other(cluster: Cluster, tmp_path: Path,
                                                                       clock) -> None:  # noqa: ANN001
    nid, ua, _ru = _negotiation(cluster, tmp_path, clock)
    device = ua.identity.device_key_id
    assert cluster.workers[1].store.get_device(device, cached=True) is not None  # cached on worker 1
    assert device in cluster.workers[1].store._devices
    cluster.workers[0].ingestor.device_revoked(device)
    deadline = time.monotonic() + 5
    while device in cluster.workers[1].store._devices and time.monotonic() < deadline:
        time.sleep(0.01)
    assert device not in cluster.workers[1].store._devices


def test_worker_refuses_posts_once_the_writer_is_gone(cluster: Cluster, tmp_path: Path, clock) -> None:  # noqa: ANN001
    nid, ua, _ru = _negotiation(cluster, tmp_path, clock)
    stored = cluster.ingestor.store.events(nid, -1, 1, reader=None)[0]
    cluster.writer.close()
    remote: RemoteIngestor = cluster.workers[0].ingestor
    deadline = time.monotonic() + 5
    while not remote._gone and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(StorageError, match="writer process is gone"):
        remote.submit(Envelope.from_json(_wire(stored))).result(timeout=5)


# ---- end to end: the command ----------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _workers_of(pid: int) -> list[str]:
    """The worker processes under the supervisor ``pid`` (not multiprocessing's resource tracker)."""
    out = []
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                out.append(child)
        except OSError:
            pass  # exited meanwhile
    return out


def test_serve_with_two_workers_end_to_end(tmp_path: Path) -> None:
    port = _free_port()
    log = open(tmp_path / "relay.log", "w")  # noqa: SIM115
    env = {**os.environ, "PARLEY_PASSPHRASE": "x", "PARLEY_RELAY_METRICS_TOKEN": "workers-metrics"}
    cli = [sys.executable, "-c", "from parley.cli.main import run; run()", "relay"]
    subprocess.run([*cli, "init", "--data", str(tmp_path / "data"), "--name", NAME], env=env, check=True)
    proc = subprocess.Popen([*cli, "serve", "--data", str(tmp_path / "data"), "--port", str(port), "--name", NAME,
                             "--workers", "2"], stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError((tmp_path / "relay.log").read_text())
            time.sleep(0.1)
        children = _workers_of(proc.pid)
        assert len(children) == 2  # two workers under the writer (besides multiprocessing's resource tracker)
        from parley.store.relay_store import open_store as open_db

        store = open_db(str(tmp_path / "data" / "relay.db"))
        tokens = [store.create_enrol_token(n, "2026-01-01T00:00:00Z") for n in ("Ukraine", "Russia")]
        store.close()
        ua = Client.create_party(tmp_path / "ua", relay_url=url, party_name="Ukraine", member="Head",
                                 token=tokens[0], passphrase=None)
        ru = Client.create_party(tmp_path / "ru", relay_url=url, party_name="Russia", member="Head",
                                 token=tokens[1], passphrase=None)
        nid = two_party_negotiation(ua, ru)
        seqs = [ua.send_message(nid, f"message {i}").seq for i in range(10)]
        assert seqs == sorted(set(seqs))
        assert ru.sync(nid).size == ua.sync(nid).size == seqs[-1] + 1
        metrics = httpx.get(url + "/metrics", timeout=5, headers={"Authorization": "Bearer workers-metrics"}).text
        assert "parley_events_accepted_total" in metrics
        # Counted in each worker, summed over both (prometheus_client's multiprocess mode): at least the
        # ten posts above, whichever worker took them.
        authenticated = next(line for line in metrics.splitlines()
                             if line.startswith("parley_requests_authenticated_total "))
        assert float(authenticated.split()[1]) >= 10
        # The worker that answered froze its start-up objects (parley.relay.server.tune_garbage_collector).
        frozen = next(line for line in metrics.splitlines() if line.startswith("parley_gc_frozen_objects "))
        assert float(frozen.split()[1]) > 1000
        # A worker that dies is started again, and the relay goes on serving.
        os.kill(int(children[0]), signal.SIGKILL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            current = _workers_of(proc.pid)
            if len(current) == 2 and children[0] not in current:
                break
            time.sleep(0.1)
        assert len(current) == 2 and children[0] not in current, current
        assert ua.send_message(nid, "after a worker restart").seq == seqs[-1] + 1
        children = current
        ua.close()
        ru.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        for child in children:
            assert not Path(f"/proc/{child}").exists() or "zombie" in Path(f"/proc/{child}/status").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
