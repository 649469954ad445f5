"""Per-negotiation ordering stays gap-free under concurrent posts on both databases.

Threads post at once to one negotiation, through one relay (group commit on
SQLite and PostgreSQL) and through two relay processes sharing one PostgreSQL
schema (row lock on the negotiation's head). Afterwards the sequence numbers
are 0..n-1 with no gap or duplicate, every acknowledged event is in the log
at the sequence number it was acknowledged with, and clients verify the log.
"""

from __future__ import annotations

import secrets
import threading
from concurrent.futures import ThreadPoolExecutor

from parley.client.sdk import Client, Posted, verify_log
from parley.client.transport import InProcessTransport
from parley.relay.app import Relay, create_app
from parley.store.relay_store import open_store

MESSAGES_PER_CLIENT = 25


def _post_concurrently(clients: list[Client], negotiation_id: str, count: int) -> list[Posted]:
    """Every client posts ``count`` messages, all clients at once; returns every acknowledgement."""
    start = threading.Barrier(len(clients))

    def run(index: int, client: Client) -> list[Posted]:
        start.wait(timeout=30)
        return [client.send_message(negotiation_id, f"client {index} message {n}") for n in range(count)]

    with ThreadPoolExecutor(max_workers=len(clients)) as pool:
        futures = [pool.submit(run, index, client) for index, client in enumerate(clients)]
        return [posted for future in futures for posted in future.result(timeout=120)]


def _assert_gap_free(store, negotiation_id: str, acknowledged: list[Posted]) -> int:  # noqa: ANN001
    rows = store.events(negotiation_id, -1, 10**6, reader=None)
    seqs = [row.seq for row in rows]
    assert seqs == list(range(len(rows))), "gap or duplicate in the sequence numbers"
    assert store.head(negotiation_id).size == len(rows)
    by_seq = {row.seq: row.event_id for row in rows}
    assert len(set(by_seq.values())) == len(rows), "one event stored twice"
    for posted in acknowledged:
        assert by_seq.get(posted.seq) == posted.event_id, f"acknowledged event {posted.seq} is not in the log"
    assert len({p.seq for p in acknowledged}) == len(acknowledged)
    return len(rows)


def _fresh_client_verifies(world, admin: Client, negotiation_id: str, size: int) -> None:  # noqa: ANN001
    """A new device syncs the whole log from nothing (checkpoint, Merkle root, every event)."""
    fresh = world.member(admin, "Auditor " + secrets.token_hex(2), "observer")  # posts member.add: size + 1
    result = fresh.sync(negotiation_id)
    assert result.size == size + 1 and result.new_events == size + 1
    assert verify_log(fresh, negotiation_id)["result"] == "verified"


def test_concurrent_posts_to_one_relay_stay_gap_free(any_db_world):
    world = any_db_world
    ukraine = world.party("Ukraine")
    russia = world.party("Russian Federation")
    clients = [ukraine, world.member(ukraine, "Delegate UA"), russia, world.member(russia, "Delegate RU")]
    negotiation_id = world.negotiation(ukraine, russia)
    for client in clients:
        client.sync(negotiation_id)
    before = world.store.head(negotiation_id).size

    acknowledged = _post_concurrently(clients, negotiation_id, MESSAGES_PER_CLIENT)

    assert len(acknowledged) == len(clients) * MESSAGES_PER_CLIENT
    size = _assert_gap_free(world.store, negotiation_id, acknowledged)
    assert size == before + len(acknowledged)
    for client in clients:
        assert verify_log(client, negotiation_id)["size"] == size
    texts = {m["content"]["text"] for m in russia.messages(negotiation_id)}
    assert texts == {f"client {i} message {n}" for i in range(len(clients)) for n in range(MESSAGES_PER_CLIENT)}
    _fresh_client_verifies(world, ukraine, negotiation_id, size)


def _another_relay_process(world) -> Relay:  # noqa: ANN001
    """A second relay on the same database and checkpoint key, with its own caches and writer thread."""
    url = world.store.engine.url.render_as_string(hide_password=False)
    return Relay(open_store(url), world.relay.signer, world.relay.name, clock=world.clock)


def test_two_relay_processes_on_one_database_stay_gap_free(any_db_world, tmp_path, clock):
    """Two writers (two relay processes) on one database: PostgreSQL as deployed at scale, and SQLite."""
    world = any_db_world
    first = world.relay
    second = _another_relay_process(world)
    transport = InProcessTransport(create_app(second))
    try:
        ukraine = world.party("Ukraine")
        russia = world.party("Russian Federation")
        negotiation_id = world.negotiation(ukraine, russia)
        # Two more devices whose clients talk to the second relay process.
        clients = [ukraine, russia]
        for admin, name in ((ukraine, "Delegate UA"), (russia, "Delegate RU")):
            profile = admin.add_member(tmp_path / name.replace(" ", "_"), member=name, role="delegate",
                                       passphrase=None)
            client = Client(profile, transport=transport, clock=clock)
            world.clients.append(client)
            clients.append(client)
        for client in clients:
            client.sync(negotiation_id)
        before = first.store.head(negotiation_id).size

        acknowledged = _post_concurrently(clients, negotiation_id, MESSAGES_PER_CLIENT)

        assert len(acknowledged) == len(clients) * MESSAGES_PER_CLIENT
        assert first.ingestor.events_accepted > 0 and second.ingestor.events_accepted > 0
        size = _assert_gap_free(first.store, negotiation_id, acknowledged)
        assert size == before + len(acknowledged)
        assert second.store.head(negotiation_id).size == size
        # Clients of either process verify the same log; each relay serves the full, consistent history.
        for client in clients:
            assert verify_log(client, negotiation_id)["size"] == size
        assert {c.cache.checkpoint(negotiation_id)[1] for c in clients} == {first.store.head(negotiation_id).root}
        _fresh_client_verifies(world, ukraine, negotiation_id, size)
    finally:
        for client in clients[2:]:
            client.close()
            world.clients.remove(client)
        transport.shutdown()
        second.close()


def test_sqlite_writers_of_two_stores_take_turns_through_the_write_gate(tmp_path) -> None:  # noqa: ANN001
    """Two stores on one SQLite file (two relay processes, or a writer and its workers): the second writer
    waits on the gate (flock) while the first holds it and goes on as soon as it is released."""
    import time

    first, second = open_store(str(tmp_path / "relay.db")), open_store(str(tmp_path / "relay.db"))
    entered, release, order = threading.Event(), threading.Event(), []

    def hold() -> None:
        with first._write():
            entered.set()
            release.wait(5)
            order.append("first")

    def follow() -> None:
        with second._write():
            order.append(("second", time.monotonic()))

    holder = threading.Thread(target=hold)
    holder.start()
    assert entered.wait(5)
    follower = threading.Thread(target=follow)
    follower.start()
    time.sleep(0.2)
    assert order == []  # the second writer waits
    released = time.monotonic()
    release.set()
    holder.join(5)
    follower.join(5)
    assert order[0] == "first" and order[1][0] == "second"
    assert order[1][1] - released < 1.0  # goes on once released (the gate itself: the next test)
    first.close()
    second.close()


def test_sqlite_writer_waits_for_another_process_holding_the_write_gate(tmp_path) -> None:  # noqa: ANN001
    """Another relay process's writer holds ``relay.db-writer.lock`` (taken here directly): a write waits for
    it, whatever SQLite's own lock says (nothing holds that one meanwhile)."""
    import fcntl
    import os

    store = open_store(str(tmp_path / "relay.db"))
    fd = os.open(str(tmp_path / "relay.db-writer.lock"), os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    done = threading.Event()

    def write() -> None:
        with store._write():
            done.set()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert not done.wait(0.3)  # waiting on the gate
        os.close(fd)  # the other process's writer is done
        assert done.wait(5)
    finally:
        writer.join(5)
        store.close()
