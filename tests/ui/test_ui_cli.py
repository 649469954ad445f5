"""``parley ui``: the first line printed is the loopback URL with the per-launch token."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx

from parley.client.sdk import Client


def test_parley_ui_prints_the_tokened_loopback_url_first(talks, tmp_path: Path):
    token = talks.relay.store.create_enrol_token("Türkiye", "2030-01-01T00:00:00Z")
    home = tmp_path / "turkiye"
    Client.create_party(home, relay_url="http://127.0.0.1:9", party_name="Türkiye", member="Mediator",
                        token=token, passphrase="correct horse", transport=talks.transport).close()
    env = {**os.environ, "PARLEY_PASSPHRASE": "correct horse"}
    command = [sys.executable, "-c", "from parley.cli.main import run; run()", "ui", "--home", str(home),
               "--no-browser"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        first = proc.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/login\?token=[A-Za-z0-9_-]{40,}", first), first
        base = first.split("/login")[0]
        with httpx.Client(base_url=base, timeout=10) as browser:
            assert browser.get("/").status_code == 401
            login = browser.get(first, follow_redirects=False)
            assert login.status_code == 303 and "HttpOnly" in login.headers["set-cookie"]
            home_page = browser.get("/")
            assert home_page.status_code == 200
            assert "Mediator" in home_page.text
            assert "The relay did not answer" in home_page.text  # shown, not crashed: port 9 is closed
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
