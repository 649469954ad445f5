"""Peak memory and time of a large attachment, end to end: send, receive (sync), save.

One process plays both parties against a relay on a loopback port (uvicorn, SQLite). Before each phase
the process's peak RSS is reset (``/proc/self/clear_refs``, Linux) and read after it (``VmHWM``), so each
figure is that phase's own peak. The file is random bytes written to disk first; the limit is raised to
the file's size for the run (``--mb``). Phases:

- send: ``channel_message(..., attachments=[file])``: read from disk one 512 KiB chunk at a time, each
  posted as an encrypted chunk event;
- receive: the other party's ``sync`` (fetch, verify, decrypt, store in its encrypted cache);
- save: ``save_attachment`` from the cache to disk, checked against size and SHA-256;
- timeline: the receiver's ``Client.timeline`` (every event of the local copy, as the web UI's overview and
  ``parley status`` show it);
- verify: the receiver's ``Client.verify`` (``parley log verify``: the local copy replayed, then the relay's
  whole log fetched again and checked against it).
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from _common import emit_json, print_table  # noqa: E402

from parley.client.devices import finish_link, link_device, request_link  # noqa: E402
from parley.client.grants import grant_history  # noqa: E402
from parley.client.sdk import Client  # noqa: E402
from parley.client.workflow import Negotiation  # noqa: E402
from parley.demo import LocalRelay  # noqa: E402
from parley.settings import DEFAULT_LIMITS  # noqa: E402


def peak_mib() -> float:
    return int(re.search(r"VmHWM:\s+(\d+)", Path("/proc/self/status").read_text()).group(1)) / 1024


def current_mib() -> float:
    return int(re.search(r"VmRSS:\s+(\d+)", Path("/proc/self/status").read_text()).group(1)) / 1024


def reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def phase(name: str, fn, rows: list, results: dict) -> None:  # noqa: ANN001
    before = current_mib()
    reset_peak()
    start = time.perf_counter()
    fn()
    seconds = time.perf_counter() - start
    peak = peak_mib()
    rows.append([name, seconds, before, peak, peak - before])
    results[name] = {"seconds": seconds, "rss_before_mib": before, "peak_mib": peak, "peak_over_start_mib": peak - before}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=20, help="file size in MB (10^6 bytes)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    size = args.mb * 1_000_000
    limits = replace(DEFAULT_LIMITS, max_attachment_bytes=max(size, DEFAULT_LIMITS.max_attachment_bytes))
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        source = tmp / "annex.bin"
        with source.open("wb") as handle:
            for _ in range(size // 1_000_000):
                handle.write(os.urandom(1_000_000))
        with LocalRelay(tmp / "relay", tmp / "relay.db") as relay:
            clients = []
            for name in ("Ukraine", "Russian Federation"):
                token = relay.relay.store.create_enrol_token(name, "2030-01-01T00:00:00Z")
                client = Client.create_party(tmp / f"{name}-{secrets.token_hex(2)}".replace(" ", "-"),
                                             relay_url=relay.url, party_name=name, member="Head", token=token,
                                             passphrase=None)
                client.limits = limits
                clients.append(client)
            ua, ru = clients
            ua.profile.pin(ru.profile.party, verified=True)
            ru.profile.pin(ua.profile.party, verified=True)
            nid = ua.create_negotiation()
            ua.invite(nid, ru.profile.party.party_id)
            ru.join(nid)
            ua_n, ru_n = Negotiation(ua, nid), Negotiation(ru, nid)
            channel = ua_n.open_channel("Files", [ru.profile.party.party_id])
            ru_n.sync()
            rows: list = []
            results: dict = {}
            phase("send", lambda: ua_n.channel_message(channel, "The annex.", attachments=[source]), rows, results)
            phase("receive (sync)", lambda: ru_n.sync(receipts=False), rows, results)
            (message,) = ru_n.views().channels[channel]["messages"]
            out = tmp / "saved.bin"
            phase("save", lambda: ru_n.save_attachment(message["attachments"][0]["attachment_id"], out), rows,
                  results)
            if out.stat().st_size != size:
                raise SystemExit("the saved file differs")
            phase("timeline", lambda: ru.timeline(nid), rows, results)
            phase("verify", lambda: ru.verify(nid), rows, results)
            # Ukraine's head links a second device and grants it the message with its file (its party's words).
            pending = request_link(tmp / "ua-phone", relay.url, passphrase=None)
            link_device(ua, pending.code)
            phone = finish_link(pending, passphrase=None)
            phone.limits = limits
            clients.append(phone)
            phase("grant (the head)", lambda: grant_history(ua, nid, devices=[phone.identity.device_key_id]), rows,
                  results)
            phase("granted (the new device's sync)", lambda: phone.sync(nid), rows, results)
            granted = tmp / "granted.bin"
            Negotiation(phone, nid).save_attachment(message["attachments"][0]["attachment_id"], granted)
            if granted.stat().st_size != size:
                raise SystemExit("the granted file differs")
            for client in clients:
                client.close()
    print_table(f"A {args.mb} MB attachment on a channel message (one process, relay on loopback; peak RSS per "
                "phase)", ["phase", "seconds", "RSS before MiB", "peak MiB", "peak - before MiB"], rows)
    if args.json:
        emit_json("files", {"mb": args.mb, "phases": results}, sys.argv)


if __name__ == "__main__":
    main()
