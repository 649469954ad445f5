"""A crash mid-write loses no acknowledged event: the relay is SIGKILLed repeatedly during a burst of posts.

``parley relay serve`` runs as a subprocess on a free 127.0.0.1 port; client threads post signed,
encrypted events and record every acknowledgement (201 with a verified inclusion proof). The relay is
killed with SIGKILL at random moments three times per engine and restarted on the same data. Afterwards
every acknowledged event is in the log at its sequence number, the whole log verifies (rules,
signatures, Merkle root against the signed checkpoint, and a member's client syncing from scratch),
and no half-written event is visible (no event without its ciphertexts, no row past the signed size).
"""

from __future__ import annotations

import base64
import hashlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from test_backup_restore import verify_store_logs

from conftest import free_port
from parley.client.sdk import Client, verify_log
from parley.crypto.httpsig import sign_request
from parley.crypto.keys import new_nonce
from parley.crypto.seal import seal_padded
from parley.protocol.events import Audience, CiphertextRef, Envelope, build_header, make_body, sign_header
from parley.store.relay_store import open_store
from parley.tlog import merkle
from parley.tlog.checkpoint import checkpoint_origin, open_checkpoint
from parley.tlog.note import Verifier

RELAY_NAME = "relay.crash"
KILLS = 3
THREADS = 4


class RelayProcess:
    def __init__(self, data: Path, database: str) -> None:
        self.data, self.database, self.port = data, database, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        cli = [sys.executable, "-c", "import sys; from parley.cli.main import run; sys.argv[0] = 'parley'; run()",
               "relay"]
        if not (self.data / "relay.key").exists():
            subprocess.run([*cli, "init", "--data", str(self.data), "--database", self.database, "--name", RELAY_NAME],
                           check=True, stdout=subprocess.DEVNULL, env=dict(os.environ))
        cmd = [*cli, "serve", "--data", str(self.data), "--database", self.database, "--host", "127.0.0.1",
               "--port", str(self.port), "--name", RELAY_NAME, "--rate", "0"]
        log = open(self.data / "relay.log", "a")  # noqa: SIM115
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError((self.data / "relay.log").read_text()[-2000:])
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError("relay did not start")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)


def _event(client: Client, nid: str, state, text: str) -> Envelope:  # noqa: ANN001
    """A valid encrypted event built offline (prev = the head known at setup, a valid earlier event)."""
    readers = state.current_members(client.clock(), state.joined_parties())
    header = build_header(nonce=new_nonce(), negotiation=nid, author=client.identity.device_key_id, created=client.clock(),
                          audience=Audience(tuple(state.joined_parties())), prev=state.head)
    blob = seal_padded(make_body("message", {"text": text}, header), [c.encryption_key for c in readers])
    header = replace(header, ciphertexts=(CiphertextRef(hashlib.sha256(blob).hexdigest(),
                                                         tuple(sorted(c.device_key_id for c in readers))),))
    return Envelope(header, sign_header(client.identity.signing, header), (blob,))


@pytest.mark.parametrize("engine", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_relay_killed_mid_write_loses_no_acknowledged_event(engine, tmp_path, request):
    database = str(tmp_path / "relay.db") if engine == "sqlite" else request.getfixturevalue("postgres_url")
    data = tmp_path / "relay-data"
    data.mkdir()
    relay = RelayProcess(data, database)
    relay.start()
    clients: list[Client] = []
    try:
        seed = open_store(database)
        tokens = [seed.create_enrol_token(name, "2026-01-01T00:00:00Z") for name in ("Ukraine", "Russia")]
        seed.close()
        for name, token in zip(("Ukraine", "Russia"), tokens, strict=True):
            clients.append(Client.create_party(tmp_path / name, relay_url=relay.url, party_name=name,
                                               member="Head", token=token, passphrase=None))
        ukraine, russia = clients
        ukraine.profile.pin(russia.profile.party, verified=True)
        russia.profile.pin(ukraine.profile.party, verified=True)
        nid = ukraine.create_negotiation()
        ukraine.invite(nid, russia.profile.party.party_id)
        russia.join(nid)
        state = ukraine.sync_state(nid)
        verifier = Verifier.from_vkey(ukraine.profile.relay_vkey)

        acks: list[tuple[int, str]] = []
        refused: list[str] = []
        stop = threading.Event()
        lock = threading.Lock()

        def poster(index: int) -> None:
            author = clients[index % 2]
            with httpx.Client(base_url=relay.url, timeout=5) as http:
                n = 0
                while not stop.is_set():
                    envelope = _event(author, nid, state, f"thread {index} message {n}")
                    n += 1
                    try:
                        req = http.build_request("POST", f"/v1/negotiations/{nid}/events", content=envelope.to_json(),
                                                 headers={"Content-Type": "application/json"})
                        sign_request(req, key_id=author.identity.device_key_id,
                                     private_key=author.identity.signing.private)
                        response = http.send(req)
                    except httpx.HTTPError:
                        time.sleep(0.05)  # the relay is down: try again later with a new event
                        continue
                    if response.status_code != 201:
                        with lock:
                            refused.append(f"{response.status_code} {response.text[:200]}")
                        continue
                    answer = response.json()
                    # an acknowledgement counts only with a valid signed checkpoint and inclusion proof
                    checkpoint = open_checkpoint(answer["checkpoint"], [verifier],
                                                 expected_origin=checkpoint_origin(RELAY_NAME, nid))
                    merkle.verify_inclusion(merkle.leaf_hash(envelope.leaf_bytes()), answer["seq"], checkpoint.size,
                                            [base64.b64decode(p) for p in answer["inclusion_proof"]], checkpoint.root)
                    assert answer["event_id"] == envelope.event_id
                    with lock:
                        acks.append((answer["seq"], answer["event_id"]))

        crashed: list[BaseException] = []

        def guarded(index: int) -> None:
            try:
                poster(index)
            except BaseException as exc:  # an acknowledgement that does not verify, say
                crashed.append(exc)
                stop.set()

        threads = [threading.Thread(target=guarded, args=(i,)) for i in range(THREADS)]
        for thread in threads:
            thread.start()
        rng = random.Random(20240601)  # noqa: S311
        acks_at_kill = []
        try:
            for _ in range(KILLS):
                time.sleep(rng.uniform(0.4, 1.2))
                relay.kill()
                with lock:
                    acks_at_kill.append(len(acks))
                time.sleep(rng.uniform(0.0, 0.3))
                relay.start()
            time.sleep(0.5)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
        relay.kill()
        assert not crashed, crashed[:3]
        assert not refused, refused[:5]
        assert acks_at_kill[0] > 0 and len(acks) > acks_at_kill[-1], (acks_at_kill, len(acks))

        store = open_store(database)
        try:
            head = store.head(nid)
            stored = {row.seq: row.event_id for row in store.events(nid, -1, head.size + 100, reader=None)}
            missing = [(seq, eid) for seq, eid in acks if stored.get(seq) != eid]
            assert not missing, f"{len(missing)} acknowledged events lost or moved: {missing[:3]}"
            assert len({eid for _, eid in acks}) == len(acks)
            assert max(stored) == head.size - 1  # nothing visible past the signed head
            with store.engine.connect() as db:
                beyond = db.execute(text("SELECT COUNT(*) FROM events JOIN negotiations USING (negotiation_no) "
                                         "WHERE negotiation_id = :n AND seq >= :s"),
                                    {"n": nid, "s": head.size}).scalar()
            assert beyond == 0
            verify_store_logs(store, ukraine.profile.relay_vkey, RELAY_NAME)  # rules, ciphertexts, root, signature
        finally:
            store.close()
        relay.start()
        result = verify_log(russia, nid)  # a member's client, from its last checkpoint before the burst
        assert result["result"] == "verified" and result["size"] == head.size
        print(f"{engine}: {len(acks)} acknowledged, {head.size} in the log, kills after {acks_at_kill} acks")
    finally:
        relay.kill()
        for client in clients:
            client.close()
