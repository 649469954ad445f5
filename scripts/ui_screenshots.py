"""Regenerate the screenshots of the local web UI in docs/ui/ and their section of docs/ui.md.

    .venv/bin/python scripts/ui_screenshots.py [--keep DIR]

Plays ``parley demo`` into a temporary folder, serves the UI of Ukraine's head of
delegation on the demo data, and photographs the main pages in headless Debian
Chromium (``/usr/bin/chromium``; Playwright downloads nothing) at 1280 px and 390 px.
Last, it rewrites one event in the relay's database and photographs the warning
banner the UI then shows. Needs ``PARLEY_PASSPHRASE`` or uses the demo's "demo".
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import sqlite3
import sys
import tempfile
from pathlib import Path

from rich.console import Console

from parley.client.profile import Profile
from parley.client.sdk import Client
from parley.crypto.canonical import canonical_bytes
from parley.demo import LocalRelay, run_demo
from parley.store.codec import unpack_header
from parley.ui.server import UIServer

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "docs" / "ui"
DOC = ROOT / "docs" / "ui.md"
START, END = "<!-- screenshots:start -->", "<!-- screenshots:end -->"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="play the demo into this folder and keep it")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        print(f"{CHROMIUM} is missing: PARLEY_UI_TESTS=1 bash scripts/system-deps.sh", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="parley-shots-") as tmp:
        out = args.keep or Path(tmp) / "demo"
        print(f"playing the demo into {out} ...")
        run_demo(out, console=Console(file=io.StringIO()))
        shots = photograph(out, os.environ.get("PARLEY_PASSPHRASE") or "demo")
    write_doc(shots)
    print(f"wrote {len(shots)} screenshots to {SHOTS} and updated {DOC}")
    return 0


def photograph(out: Path, passphrase: str) -> list[tuple[str, str]]:
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in SHOTS.glob("*.png"):
        old.unlink()
    taken: list[tuple[str, str]] = []
    with LocalRelay(out / "relay", out / "relay.db") as local:
        client, moscow = (_client(out / "profiles" / f"{who}-head", passphrase, local.url) for who in ("ukraine", "russia"))
        nid = client.cache.negotiations()[0]
        with UIServer(client, stream=True) as server, UIServer(moscow, stream=True) as russia, \
                sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(server.login_url())
            memo = re.search(r"/memoranda/(memo-[0-9a-f]+)", _html(page, server.base + f"/n/{nid}/memoranda"))
            # Ukraine is not on the Washington-Moscow line: the channel is photographed from Moscow's UI
            other = browser.new_page(viewport={"width": 1280, "height": 900})
            other.goto(russia.login_url())
            channel = re.search(r"/channels/(channel-[0-9a-f]+)", _html(other, russia.base + f"/n/{nid}/channels"))
            _shot(other, russia.base + f"/n/{nid}/channels/{channel.group(1)}", SHOTS / "channel.png")
            pages = [
                ("negotiations", "/", "Negotiations list"),
                ("overview", f"/n/{nid}", "Negotiation overview: awaiting official response, positions matrix, timeline"),
                ("memoranda", f"/n/{nid}/memoranda", "Memoranda: delivered memoranda and the composer per key issue"),
                ("memorandum", f"/n/{nid}/memoranda/{memo.group(1)}",
                 "A memorandum with the CONFIDENTIAL watermark, receipts and official responses"),
                ("meetings", f"/n/{nid}/meetings", "Meetings: calendar, answers, .ics download, proposal form"),
                ("agreement", f"/n/{nid}/agreement/istanbul-memorandum",
                 "Agreement: seal state, signatures, release, bundle download, articles"),
                ("audit", f"/n/{nid}/audit", "Audit: log verification, signed checkpoint, access log"),
                ("trust", f"/n/{nid}/trust", "Trust: fingerprints as digits and QR codes"),
            ]
            for name, path, caption in pages:
                _shot(page, server.base + path, SHOTS / f"{name}.png")
                taken.append((f"{name}.png", caption))
                if name == "meetings":
                    taken.append(("channel.png", "A standing channel (live chat), seen by Moscow's head"))
            mobile = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
            mobile.goto(server.login_url())
            _shot(mobile, server.base + f"/n/{nid}", SHOTS / "mobile-overview.png", full=False)
            mobile.goto(russia.login_url())
            _shot(mobile, russia.base + f"/n/{nid}/channels/{channel.group(1)}", SHOTS / "mobile-channel.png",
                  full=False)
            taken += [("mobile-overview.png", "Overview at 390 px"), ("mobile-channel.png", "Channel at 390 px")]
            _tamper(out / "relay.db", nid)
            page.goto(server.base + f"/n/{nid}/audit")
            page.get_by_role("button", name="Verify the whole log now").click()
            page.wait_for_selector(".banner-danger")
            _shot(page, server.base + f"/n/{nid}", SHOTS / "tampered.png", full=False)
            taken.append(("tampered.png", "After the relay rewrote an event: the banner on every page"))
            browser.close()
        client.close()
        moscow.close()
    return taken


def _client(home: Path, passphrase: str, relay_url: str) -> Client:
    profile = Profile.load(home, passphrase)
    profile.relay_url = relay_url  # the demo relay restarted on another port (in memory only, not saved)
    return Client(profile)


def _html(page, url: str) -> str:  # noqa: ANN001
    page.goto(url)
    return page.content()


def _shot(page, url: str, path: Path, *, full: bool = True) -> None:  # noqa: ANN001
    page.goto(url)
    page.wait_for_selector("#live-state.on", timeout=15_000)
    page.screenshot(path=str(path), full_page=full)


def _tamper(database: Path, nid: str) -> None:
    db = sqlite3.connect(str(database))
    seq, header = db.execute("SELECT seq, header FROM events JOIN negotiations USING (negotiation_no) "
                             "WHERE negotiation_id=? ORDER BY seq LIMIT 1 OFFSET 5",
                             (nid,)).fetchone()
    rewritten = json.loads(unpack_header(header))
    rewritten["created"] = "2025-06-02T10:00:00Z"
    db.execute("UPDATE events SET header=? WHERE seq=? AND negotiation_no="
               "(SELECT negotiation_no FROM negotiations WHERE negotiation_id=?)",
               (canonical_bytes(rewritten), seq, nid))
    db.commit()
    db.close()


def write_doc(shots: list[tuple[str, str]]) -> None:
    lines = [START, "<!-- generated by scripts/ui_screenshots.py: do not edit by hand -->", ""]
    for file, caption in shots:
        lines += [f"### {caption}", "", f"![{caption}](ui/{file})", ""]
    lines.append(END)
    text = DOC.read_text(encoding="utf-8") if DOC.exists() else f"# The local web UI\n\n{START}\n{END}\n"
    if START not in text:
        text += f"\n## Screenshots\n\n{START}\n{END}\n"
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    DOC.write_text(head + "\n".join(lines) + tail, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
