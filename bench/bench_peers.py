"""Peer benchmark: the relay-ingest load of bench_relay.py against Synapse, the Matrix homeserver, in one run.

Synapse (PyPI ``matrix-synapse``) is installed by this script into its own venv, ``bench/.peers/synapse-venv``
(only if missing), and runs in its own process with a generated config: SQLite, listener on 127.0.0.1 only
(client API only, no federation resource, ``federation_domain_whitelist: []``, no trusted key servers),
registration closed except through the shared secret, every ``rc_*`` rate limit raised out of reach,
presence, metrics and stats reporting off, logging at WARNING.

Synapse side: 5 users registered through the shared-secret admin API (``/_synapse/admin/v1/register``), one
private room with ``m.room.encryption`` set, everyone invited and joined. Each event is an ``m.room.encrypted``
event (``m.megolm.v1.aes-sha2``) whose ``ciphertext`` is unpadded base64 of as many random bytes as parley's
age ciphertext in the same run (~1.7 KB), sent with ``PUT /_matrix/client/v3/rooms/{room}/send/
m.room.encrypted/{txn}`` by the 5 users in turn. Requests are built before the clock starts and sent by the
same kind of lean asyncio HTTP/1.1 client as bench_relay.py (keep-alive, one request in flight per client).

Parley side: ``parley relay serve`` on SQLite, 5 parties, the same number of events per level, built, signed
and sent exactly as bench_relay.py does.

Reported per concurrency level (1, 8, 32 clients): events/s, p50 and p99 ms and server CPU (cores) for each,
and the parley/Synapse events/s ratio; then the bytes stored per event (SQLite pages counted by ``dbstat``,
the same method for both) and server RSS. Synapse is always killed at the end.

Usage: python bench/bench_peers.py [--quick] [--json] [--clients 1,8,32] [--events N]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from _common import (
    ROOT,
    RelayProcess,
    _run_load,
    build_events,
    free_port,
    make_room,
    print_table,
    run_async,
    run_load,
    start_relay,
    summarize,
)
from _common import emit_json as _emit_json
from bench_relay import CIPHERTEXT_BYTES, presign_posts, storage_bytes

PEERS = ROOT / "bench" / ".peers"
SYNAPSE_VENV = PEERS / "synapse-venv"
SYNAPSE_PY = SYNAPSE_VENV / "bin" / "python"
PARTIES = 5
HUGE = {"per_second": 1_000_000, "burst_count": 1_000_000}


# ---------------------------------------------------------------------------------------------- synapse setup
def synapse_version() -> str | None:
    if not SYNAPSE_PY.exists():
        return None
    probe = subprocess.run([str(SYNAPSE_PY), "-c", "import synapse; print(synapse.__version__.split()[0])"],
                           capture_output=True, text=True, timeout=120)
    return probe.stdout.strip() if probe.returncode == 0 else None


def ensure_synapse() -> str:
    """Create bench/.peers/synapse-venv and pip install matrix-synapse, unless it is already there."""
    version = synapse_version()
    if version:
        return version
    PEERS.mkdir(parents=True, exist_ok=True)
    print(f"installing matrix-synapse into {SYNAPSE_VENV} ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(SYNAPSE_VENV)], check=True, timeout=300)
    subprocess.run([str(SYNAPSE_PY), "-m", "pip", "install", "--quiet", "matrix-synapse"], check=True, timeout=1200)
    version = synapse_version()
    if not version:
        raise RuntimeError("matrix-synapse installed but `import synapse` fails")
    return version


def _rate_limits() -> dict[str, Any]:
    per = dict(HUGE)
    return {
        "rc_message": per, "rc_registration": per, "rc_registration_token_validity": per,
        "rc_login": {"address": per, "account": per, "failed_attempts": per},
        "rc_joins": {"local": per, "remote": per}, "rc_joins_per_room": per,
        "rc_invites": {"per_room": per, "per_user": per, "per_issuer": per},
        "rc_3pid_validation": per, "rc_third_party_invite": per, "rc_admin_redaction": per,
        "rc_key_requests": per, "rc_media_create": per, "rc_presence": {"per_user": per},
        "rc_delayed_event_mgmt": per, "rc_room_creation": per, "rc_reports": per, "rc_user_directory": per,
        "rc_profile": per,
        "rc_federation": {"window_size": 1000, "sleep_limit": 1_000_000, "sleep_delay": 0,
                          "reject_limit": 1_000_000, "concurrent": 1_000_000},
    }


def write_config(work: Path, port: int) -> tuple[Path, str, Path]:
    """Generate a homeserver config with Synapse itself, then override it; returns (config, secret, db path)."""
    generated = work / "generated.yaml"
    subprocess.run([str(SYNAPSE_PY), "-m", "synapse.app.homeserver", "--server-name", "localhost",
                    "--config-path", str(generated), "--generate-config", "--report-stats=no"],
                   cwd=work, check=True, capture_output=True, timeout=120)
    as_json = subprocess.run([str(SYNAPSE_PY), "-c", "import json, sys, yaml; "
                              "print(json.dumps(yaml.safe_load(open(sys.argv[1]))))", str(generated)],
                             check=True, capture_output=True, text=True, timeout=60).stdout
    config = json.loads(as_json)
    secret = secrets.token_hex(32)
    db_path = work / "homeserver.db"
    log_config = work / "log.yaml"
    log_config.write_text(json.dumps({
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
        "handlers": {"file": {"class": "logging.FileHandler", "formatter": "plain",
                              "filename": str(work / "homeserver.log")}},
        "root": {"level": "WARNING", "handlers": ["file"]}}))
    config.update({
        "pid_file": str(work / "homeserver.pid"),
        "listeners": [{"port": port, "bind_addresses": ["127.0.0.1"], "type": "http", "tls": False,
                       "x_forwarded": False, "resources": [{"names": ["client"], "compress": False}]}],
        "database": {"name": "sqlite3", "args": {"database": str(db_path)}},
        "log_config": str(log_config),
        "media_store_path": str(work / "media_store"),
        "enable_registration": False,
        "registration_shared_secret": secret,
        "report_stats": False,
        "enable_metrics": False,
        "federation_domain_whitelist": [],
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        "presence": {"enabled": False},
        "url_preview_enabled": False,
        **_rate_limits(),
    })
    path = work / "homeserver.yaml"
    path.write_text(json.dumps(config, indent=1))  # JSON is YAML
    return path, secret, db_path


def start_synapse(work: Path, config: Path, port: int, timeout: float = 120.0) -> RelayProcess:
    log = open(work / "synapse-stdout.log", "w")  # noqa: SIM115
    proc = subprocess.Popen([str(SYNAPSE_PY), "-m", "synapse.app.homeserver", "--config-path", str(config)],
                            cwd=work, stdout=log, stderr=subprocess.STDOUT)
    server = RelayProcess(proc, f"http://127.0.0.1:{port}", port)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = (work / "synapse-stdout.log").read_text()[-3000:]
            raise RuntimeError(f"synapse exited with {proc.returncode}: {tail}")
        try:
            if httpx.get(server.url + "/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.kill()
    raise RuntimeError(f"synapse did not answer /health within {timeout:.0f} s")


def register(http: httpx.Client, secret: str, username: str) -> dict[str, str]:
    """Shared-secret registration (admin API); returns user_id, access_token, device_id."""
    nonce = http.get("/_synapse/admin/v1/register").json()["nonce"]
    password = secrets.token_hex(16)
    mac = hmac.new(secret.encode(), b"\x00".join([nonce.encode(), username.encode(), password.encode(),
                                                 b"notadmin"]), hashlib.sha1).hexdigest()
    response = http.post("/_synapse/admin/v1/register", json={"nonce": nonce, "username": username,
                                                              "password": password, "admin": False, "mac": mac})
    response.raise_for_status()
    return response.json()


def setup_room(url: str, secret: str) -> tuple[str, list[dict[str, str]]]:
    with httpx.Client(base_url=url, timeout=60) as http:
        users = [register(http, secret, f"party{i}") for i in range(PARTIES)]

        def auth(u: dict[str, str]) -> dict[str, str]:
            return {"Authorization": f"Bearer {u['access_token']}"}

        response = http.post("/_matrix/client/v3/createRoom", headers=auth(users[0]), json={
            "preset": "private_chat", "name": "bench", "invite": [u["user_id"] for u in users[1:]],
            "initial_state": [{"type": "m.room.encryption", "state_key": "",
                               "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]})
        response.raise_for_status()
        room_id = response.json()["room_id"]
        for u in users[1:]:
            http.post(f"/_matrix/client/v3/join/{quote(room_id, safe='')}", headers=auth(u), json={}
                      ).raise_for_status()
        members = http.get(f"/_matrix/client/v3/rooms/{quote(room_id, safe='')}/joined_members",
                           headers=auth(users[0])).json()["joined"]
        if len(members) != PARTIES:
            raise RuntimeError(f"expected {PARTIES} joined members, got {len(members)}")
    return room_id, users


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")  # Matrix uses unpadded base64


def synapse_requests(port: int, room_id: str, users: list[dict[str, str]], count: int, ciphertext_bytes: int,
                     tag: str) -> list[bytes]:
    """Raw keep-alive PUT requests, one m.room.encrypted event each, the 5 users in turn."""
    sessions = [(_b64(secrets.token_bytes(32)), _b64(secrets.token_bytes(32))) for _ in users]
    room = quote(room_id, safe="")
    out = []
    for i in range(count):
        k = i % len(users)
        user = users[k]
        body = json.dumps({"algorithm": "m.megolm.v1.aes-sha2",
                           "ciphertext": _b64(secrets.token_bytes(ciphertext_bytes)),
                           "device_id": user["device_id"], "sender_key": sessions[k][0],
                           "session_id": sessions[k][1]}, separators=(",", ":")).encode()
        head = (f"PUT /_matrix/client/v3/rooms/{room}/send/m.room.encrypted/{tag}-{i} HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{port}\r\nAuthorization: Bearer {user['access_token']}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
        out.append(head.encode() + body)
    return out


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One HTTP/1.1 response; Synapse (Twisted) answers with Transfer-Encoding: chunked."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        if b":" in line:
            name, value = line.split(b":", 1)
            headers[name.strip().lower()] = value.strip()
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if not size:
                return status, body
            body += chunk[:-2]
    length = int(headers.get(b"content-length", b"0"))
    return status, (await reader.readexactly(length) if length else b"")


def _synapse_outcome(status: int, body: bytes) -> tuple[dict | None, str]:
    """Synapse acknowledges a send with 200 and an event_id (parley: 201 and a seq)."""
    answer = json.loads(body) if body else {}
    if status == 200 and "event_id" in answer:
        return {"event_id": answer["event_id"]}, ""
    return None, f"{status}:{answer.get('errcode', '')}"


def sqlite_pages(db_path: Path) -> int:
    """Bytes of all pages of a live SQLite database (dbstat, read-only, WAL included): bench_relay's method."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        return int(conn.execute("SELECT SUM(pgsize) FROM dbstat").fetchone()[0])
    finally:
        conn.close()


def file_bytes(db_path: Path) -> int:
    return sum(p.stat().st_size for p in (db_path, Path(f"{db_path}-wal")) if p.exists())


# ---------------------------------------------------------------------------------------------- the two runs
def run_parley(levels: list[int], per_level: int, tmp: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"server": "parley", "levels": []}
    database = str(tmp / "relay.db")
    relay = start_relay(tmp / "parley-data", database)
    try:
        room = make_room(relay.url, database, tmp / "parley-homes", parties=PARTIES)
        size0 = room.clients[0].conn.get(f"/v1/negotiations/{room.negotiation_id}/checkpoint")["size"]
        before = storage_bytes(database)["total"]
        for clients in levels:
            events = build_events(room, per_level, CIPHERTEXT_BYTES)
            requests = presign_posts(relay.url, room, events)
            out["ciphertext_bytes"] = len(events[0][1].ciphertexts[0])
            out["request_body_bytes"] = len(events[0][1].to_json())
            cpu0 = relay.cpu_seconds()
            result = run_load(relay.port, requests, clients, time_limit=120)
            row = summarize(result)
            row["server_cpu"] = round((relay.cpu_seconds() - cpu0) / result.seconds, 2)
            out["levels"].append(row)
        out["rss_mib"] = round(relay.rss_kib()[0] / 1024, 1)
        size1 = room.clients[0].conn.get(f"/v1/negotiations/{room.negotiation_id}/checkpoint")["size"]
        out["stored_events"] = size1 - size0
        out["bytes_per_event"] = round((storage_bytes(database)["total"] - before) / max(1, size1 - size0))
        room.close()
    finally:
        relay.stop()
    return out


def run_synapse(levels: list[int], per_level: int, ciphertext_bytes: int, tmp: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"server": "synapse", "levels": []}
    work = tmp / "synapse"
    work.mkdir()
    port = free_port()
    config, secret, db_path = write_config(work, port)
    t0 = time.perf_counter()
    server = start_synapse(work, config, port)
    out["startup_s"] = round(time.perf_counter() - t0, 1)
    try:
        room_id, users = setup_room(server.url, secret)
        time.sleep(1.0)  # let the background jobs of registration / room creation settle
        pages0, file0 = sqlite_pages(db_path), file_bytes(db_path)
        acked = 0
        for clients in levels:
            requests = synapse_requests(port, room_id, users, per_level, ciphertext_bytes, f"c{clients}")
            out["request_body_bytes"] = len(requests[0].split(b"\r\n\r\n", 1)[1])
            cpu0 = server.cpu_seconds()
            result = run_async(_run_load(port, requests, clients, 120, read_response=_read_response,
                                         outcome=_synapse_outcome))
            row = summarize(result)
            row["server_cpu"] = round((server.cpu_seconds() - cpu0) / result.seconds, 2)
            out["levels"].append(row)
            acked += result.ok
        out["rss_mib"] = round(server.rss_kib()[0] / 1024, 1)
        time.sleep(2.0)  # background writes triggered by the events (push summaries, stats)
        out["stored_events"] = acked
        out["bytes_per_event"] = round((sqlite_pages(db_path) - pages0) / max(1, acked))
        out["file_bytes_per_event"] = round((file_bytes(db_path) - file0) / max(1, acked))
    finally:
        server.stop()
        server.kill()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200 events per level instead of 1,000")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument("--clients", default="1,8,32", help="concurrency levels")
    parser.add_argument("--events", type=int, default=None, help="events per level (overrides --quick)")
    args = parser.parse_args(argv)
    levels = [int(c) for c in args.clients.split(",")]
    per_level = args.events or (200 if args.quick else 1000)
    version = ensure_synapse()
    with tempfile.TemporaryDirectory(prefix="parley-bench-peers-") as tmp:
        parley = run_parley(levels, per_level, Path(tmp))
        synapse = run_synapse(levels, per_level, parley["ciphertext_bytes"], Path(tmp))
    synapse["version"] = version
    ratios = [round(p["events_per_s"] / s["events_per_s"], 2) if s["events_per_s"] else None
              for p, s in zip(parley["levels"], synapse["levels"], strict=True)]
    if args.json:
        _emit_json("peers_synapse", {"events_per_level": per_level, "parley": parley, "synapse": synapse,
                                     "ratio_parley_over_synapse": dict(zip(levels, ratios, strict=True))},
                   [sys.argv[0], *(argv if argv is not None else sys.argv[1:])])
        return 0
    rows = []
    for p, s, ratio in zip(parley["levels"], synapse["levels"], ratios, strict=True):
        errors = ",".join(f"{k}={v}" for k, v in {**p["errors"], **{f"synapse {k}": v for k, v in
                                                                    s["errors"].items()}}.items()) or "none"
        rows.append([p["clients"], p["events"], p["events_per_s"], p["p50_ms"], p["p99_ms"], p["server_cpu"],
                     s["events"], s["events_per_s"], s["p50_ms"], s["p99_ms"], s["server_cpu"],
                     f"{ratio:.2f}" if ratio is not None else "-", errors])
    print_table(f"Ingest over loopback, parley vs Synapse {version} (SQLite both; {parley['ciphertext_bytes']} B "
                f"ciphertext, {PARTIES} recipients/members)",
                ["clients", "parley events", "events/s", "p50 ms", "p99 ms", "cpu", "synapse events", "events/s",
                 "p50 ms", "p99 ms", "cpu", "parley/synapse", "errors"], rows)
    print_table("Per event", ["server", "request body B", "stored B/event (dbstat)", "RSS MiB"],
                [["parley", parley["request_body_bytes"], parley["bytes_per_event"], parley["rss_mib"]],
                 ["synapse", synapse["request_body_bytes"], synapse["bytes_per_event"], synapse["rss_mib"]]])
    print(f"\nSynapse SQLite file growth (db + WAL): {synapse['file_bytes_per_event']:,} B/event; "
          f"Synapse start-up {synapse['startup_s']} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
