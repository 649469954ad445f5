"""Shared pieces of the parley benchmarks: relay processes, parties, pre-signed requests, a lean HTTP/1.1
load generator, tables and JSON output. Everything runs on 127.0.0.1 only; every loop is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from parley.client.sdk import Client  # noqa: E402
from parley.crypto.httpsig import sign_request  # noqa: E402
from parley.crypto.keys import new_nonce  # noqa: E402
from parley.crypto.seal import seal, seal_padded  # noqa: E402
from parley.protocol.events import Audience, CiphertextRef, Envelope, build_header, make_body, sign_header  # noqa: E402
from parley.store.relay_store import open_store  # noqa: E402

PG_BASE = os.environ.get("PARLEY_BENCH_DATABASE_URL") or os.environ.get("PARLEY_TEST_DATABASE_URL") \
    or "postgresql://postgres@127.0.0.1:5432/test"
RELAY_NAME = "bench.relay"


# ---------------------------------------------------------------------------------------------- output
def machine() -> dict[str, Any]:
    return {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}


def print_table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    cells = [[c if isinstance(c, str) else _fmt(c) for c in row] for row in rows]
    widths = [max(len(col), *(len(r[i]) for r in cells)) if cells else len(col) for i, col in enumerate(columns)]
    print(f"\n{title}")
    print("  ".join(col.ljust(w) for col, w in zip(columns, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))))


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value >= 100:
            return f"{value:,.0f}"
        if value >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def emit_json(name: str, results: dict[str, Any], argv: list[str]) -> None:
    print(json.dumps({"benchmark": name, "command": " ".join(["python", *argv]), "machine": machine(),
                      "results": results}, indent=2, default=str))


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


# ---------------------------------------------------------------------------------------------- databases
def fresh_postgres(dbname: str) -> str:
    """Drop and create ``dbname`` on the PostgreSQL server of PG_BASE; return its URL."""
    import psycopg

    base = PG_BASE.rsplit("/", 1)[0]
    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{dbname}"')
    return f"{base}/{dbname}"


def drop_postgres(dbname: str) -> None:
    import psycopg

    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


def postgres_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_BASE, connect_timeout=3):
            return True
    except Exception:  # noqa: BLE001
        return False


# ---------------------------------------------------------------------------------------------- relay processes
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RelayProcess:
    proc: subprocess.Popen
    url: str
    port: int

    def pids(self) -> list[int]:
        """The relay process and its worker processes (``--workers``), if any."""
        out = [self.proc.pid]
        try:
            for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
                children = (task / "children").read_text().split()
                out.extend(int(c) for c in children)
        except OSError:
            pass
        return out

    def rss_kib(self) -> tuple[int, int]:
        """(current RSS, peak RSS) in KiB of the relay, summed over its processes."""
        now = peak = 0
        for pid in self.pids():
            try:
                lines = Path(f"/proc/{pid}/status").read_text().splitlines()
            except OSError:
                continue
            for line in lines:
                if line.startswith("VmRSS:"):
                    now += int(line.split()[1])
                if line.startswith("VmHWM:"):
                    peak += int(line.split()[1])
        return now, peak

    def cpu_seconds(self) -> float:
        """User + system CPU time of the relay so far, summed over its processes."""
        total = 0
        for pid in self.pids():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    def metrics(self) -> dict[str, float]:
        text = httpx.get(self.url + "/metrics", timeout=10,
                         headers={"Authorization": f"Bearer {BENCH_METRICS_TOKEN}"}).text
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#") and "{" not in line:
                key, value = line.split()
                out[key] = float(value)
        return out

    def kill(self) -> None:
        """SIGKILL the relay process (the writer, with ``--workers``); its workers follow."""
        children = self.pids()[1:]
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)
        for pid in children:  # they stop by themselves once the writer is gone; this is quicker
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


#: per-device request rate given to benchmark relays. The load comes from 5 devices (one head per party), so
#: the default 200/s per device would cap a run at about 1,000 events/s per process; at 10,000/s the token
#: bucket is still taken on every request (its cost is measured) but never refuses one. Synapse runs with
#: its rate limits off for the same reason.
BENCH_RATE_PER_DEVICE = 10_000
#: the metrics token of benchmark relays (loopback only)
BENCH_METRICS_TOKEN = "bench-metrics"  # noqa: S105


def start_relay(data_dir: Path, database: str, *, port: int | None = None, workers: int = 1) -> RelayProcess:
    """``parley relay serve`` in its own process on 127.0.0.1, with ``BENCH_RATE_PER_DEVICE``; waits until
    /healthz answers (at most 30 s)."""
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "PARLEY_RELAY_METRICS_TOKEN": BENCH_METRICS_TOKEN}
    if not (data_dir / "relay.key").exists():  # a new relay: its key and schema, as an operator makes them
        subprocess.run([sys.executable, "-c", "import sys; from parley.cli.main import run; sys.argv[0] = 'parley'; run()",
                        "relay", "init", "--data", str(data_dir), "--database", database, "--name", RELAY_NAME],
                       env=env, check=True, stdout=subprocess.DEVNULL)
    cmd = [sys.executable, "-c", "import sys; from parley.cli.main import run; sys.argv[0] = 'parley'; run()", "relay", "serve", "--data", str(data_dir), "--database", database,
           "--host", "127.0.0.1", "--port", str(port), "--name", RELAY_NAME, "--workers", str(workers),
           "--rate", str(BENCH_RATE_PER_DEVICE), "--burst", str(2 * BENCH_RATE_PER_DEVICE)]
    log = open(data_dir / f"relay-{port}.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"relay exited: {(data_dir / f'relay-{port}.log').read_text()[-2000:]}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return RelayProcess(proc, url, port)
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("relay did not start in 30 s")


# ---------------------------------------------------------------------------------------------- parties
@dataclass
class Room:
    """One negotiation with ``n`` parties (one head device each), everyone pinned and joined."""

    negotiation_id: str
    clients: list[Client]
    database: str
    genesis: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def party_ids(self) -> tuple[str, ...]:
        return tuple(sorted(c.profile.party.party_id for c in self.clients))

    def close(self) -> None:
        for c in self.clients:
            c.close()


def make_room(relay_url: str, database: str, home: Path, parties: int = 5) -> Room:
    store = open_store(database)
    clients = []
    try:
        for i in range(parties):
            name = f"Party {i} {secrets.token_hex(2)}"
            token = store.create_enrol_token(name, "2026-01-01T00:00:00Z")
            clients.append(Client.create_party(home / f"p{i}-{secrets.token_hex(3)}", relay_url=relay_url,
                                               party_name=name, member=f"Head {i}", token=token, passphrase=None))
    finally:
        store.close()
    for a in clients:
        for b in clients:
            if a is not b:
                a.profile.pin(b.profile.party, verified=True)
    convener = clients[0]
    nid = convener.create_negotiation()
    for other in clients[1:]:
        convener.invite(nid, other.profile.party.party_id)
        other.join(nid)
    for c in clients:
        c.sync(nid)
    room = Room(nid, clients, database)
    room.genesis = convener.state(nid).head
    return room


def plaintext_for(ciphertext_bytes: int, recipients: list[str]) -> int:
    """Body length so that the age ciphertext to ``recipients`` is about ``ciphertext_bytes``."""
    probe = seal(b"x" * 1000, recipients)
    return max(16, 1000 + ciphertext_bytes - len(probe))


def build_events(room: Room, count: int, ciphertext_bytes: int = 1700, authors: list[Client] | None = None,
                 ) -> list[tuple[Client, Envelope]]:
    """Signed envelopes, each one ciphertext of about ``ciphertext_bytes`` to every party's head."""
    authors = authors or room.clients
    state = room.clients[0].state(room.negotiation_id)
    readers = state.current_members(datetime.now(UTC), room.party_ids, None)
    recipients = [c.encryption_key for c in readers]
    keys = tuple(sorted(c.device_key_id for c in readers))
    size = plaintext_for(ciphertext_bytes, recipients)
    filler = "m" * max(0, size - 120)
    out = []
    for i in range(count):
        author = authors[i % len(authors)]
        header = build_header(nonce=new_nonce(), negotiation=room.negotiation_id, author=author.identity.device_key_id,
                              created=datetime.now(UTC), audience=Audience(room.party_ids), prev=room.genesis)
        blob = seal_padded(make_body("message", {"text": filler, "i": i}, header), recipients)
        import hashlib

        header = replace(header, ciphertexts=(CiphertextRef(hashlib.sha256(blob).hexdigest(), keys),))
        out.append((author, Envelope(header, sign_header(author.identity.signing, header), (blob,))))
    return out


def presign(base_url: str, method: str, path: str, author: Client, body: bytes = b"") -> bytes:
    """The raw bytes of one signed HTTP/1.1 request (keep-alive)."""
    request = httpx.Request(method, base_url + path, content=body,
                            headers={"Content-Type": "application/json"} if body else {})
    sign_request(request, key_id=author.identity.device_key_id, private_key=author.identity.signing.private)
    target = request.url.raw_path.decode()
    lines = [f"{method} {target} HTTP/1.1"]
    for name, value in request.headers.raw:
        lines.append(f"{name.decode()}: {value.decode()}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


# ---------------------------------------------------------------------------------------------- load generator
@dataclass
class LoadResult:
    clients: int
    sent: int
    ok: int
    errors: dict[str, int]
    seconds: float
    latencies_ms: list[float]
    acks: list[dict]

    @property
    def rate(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    body = await reader.readexactly(length) if length else b""
    return status, body


def parley_outcome(status: int, body: bytes) -> tuple[dict | None, str]:
    """A parley relay's answer to a post: (acknowledgement, or None and an error key)."""
    if status == 201:
        answer = json.loads(body)
        return {"seq": answer["seq"], "event_id": answer["event_id"]}, ""
    return None, f"{status}:{json.loads(body).get('error') if body else ''}"


async def _run_load(port: int, requests: list[bytes], concurrency: int, time_limit: float, *,
                    read_response: Callable[[asyncio.StreamReader], Awaitable[tuple[int, bytes]]] = _read_response,
                    outcome: Callable[[int, bytes], tuple[dict | None, str]] = parley_outcome) -> LoadResult:
    """Replay pre-signed requests; ``read_response`` and ``outcome`` adapt it to another server's answers."""
    queue_index = 0
    latencies: list[float] = []
    acks: list[dict] = []
    errors: dict[str, int] = {}
    deadline = time.monotonic() + time_limit

    async def worker() -> None:
        nonlocal queue_index
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while queue_index < len(requests) and time.monotonic() < deadline:
                raw = requests[queue_index]
                queue_index += 1
                t0 = time.perf_counter()
                writer.write(raw)
                try:
                    # No timer per request (a task or a timeout handle each, a tenth of this client's CPU):
                    # the whole run has one deadline below.
                    status, body = await read_response(reader)
                except (asyncio.IncompleteReadError, ConnectionError) as exc:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                    return
                latencies.append((time.perf_counter() - t0) * 1000)
                ack, error = outcome(status, body)
                if ack is not None:
                    acks.append(ack)
                else:
                    errors[error] = errors.get(error, 0) + 1
        finally:
            writer.close()

    t0 = time.perf_counter()
    try:
        async with asyncio.timeout(time_limit + 60):  # a server that stops answering ends the run
            await asyncio.gather(*(worker() for _ in range(concurrency)))
    except TimeoutError:
        errors["TimeoutError"] = errors.get("TimeoutError", 0) + 1
    seconds = time.perf_counter() - t0
    return LoadResult(concurrency, queue_index, len(acks), errors, seconds, latencies, acks)


def run_async(coroutine: Awaitable[Any]) -> Any:
    """Run a load on uvloop when it is installed (it is, with the relay's dependencies): the load generator
    shares the machine's two cores with the server it measures, so it should take as little as it can.
    Every server measured here is loaded through this same function."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        return asyncio.run(coroutine)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)


def run_load(port: int, requests: list[bytes], concurrency: int, time_limit: float = 120.0) -> LoadResult:
    """Send pre-signed requests over ``concurrency`` keep-alive connections, each one request at a time."""
    return run_async(_run_load(port, requests, concurrency, time_limit))


def summarize(result: LoadResult) -> dict[str, Any]:
    return {"clients": result.clients, "events": result.ok, "seconds": round(result.seconds, 3),
            "events_per_s": round(result.rate, 1), "p50_ms": round(statistics.median(result.latencies_ms), 2)
            if result.latencies_ms else None, "p99_ms": round(percentile(result.latencies_ms, 99), 2),
            "errors": result.errors}
