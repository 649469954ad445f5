"""``parley ui``: the login token stays off command lines and terminals, works once, and not for long."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from parley.client.sdk import Client
from parley.ui.security import Guard

TOKEN = re.compile(r"token=([A-Za-z0-9_-]{40,})")


@pytest.fixture
def mediator_home(talks, tmp_path: Path) -> Path:
    token = talks.relay.store.create_enrol_token("Türkiye", "2030-01-01T00:00:00Z")
    home = tmp_path / "turkiye"
    Client.create_party(home, relay_url="http://127.0.0.1:9", party_name="Türkiye", member="Mediator",
                        token=token, passphrase="correct horse", transport=talks.transport).close()
    return home


@contextmanager
def parley_ui(home: Path, *extra: str, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen]:
    command = [sys.executable, "-c", "from parley.cli.main import run; run()", "ui", "--home", str(home), *extra]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PARLEY_PASSPHRASE": "correct horse", **(env or {})})
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _login_link(page: Path) -> str:
    return re.search(r"url=(http://127\.0\.0\.1:\d+/login\?token=[A-Za-z0-9_-]{40,})'", page.read_text()).group(1)


def test_parley_ui_signs_in_through_a_private_login_page(mediator_home: Path):
    with parley_ui(mediator_home, "--no-browser") as proc:
        first = proc.stdout.readline().strip()
        page = mediator_home / "ui-login.html"
        assert first == page.resolve().as_uri()
        assert stat.S_IMODE(page.stat().st_mode) == 0o600
        link = _login_link(page)
        base = link.split("/login")[0]
        with httpx.Client(base_url=base, timeout=10) as browser:
            assert browser.get("/").status_code == 401
            login = browser.get(link, follow_redirects=False)
            assert login.status_code == 200 and "HttpOnly" in login.headers["set-cookie"]
            home_page = browser.get("/")
            assert home_page.status_code == 200
            assert "Mediator" in home_page.text
            assert "The relay did not answer" in home_page.text  # shown, not crashed: port 9 is closed
        deadline = time.monotonic() + 10
        while _login_link(page) == link and time.monotonic() < deadline:
            time.sleep(0.1)
        with httpx.Client(base_url=base, timeout=10) as second_browser:  # the page now holds the next link
            assert second_browser.get(_login_link(page)).status_code == 200
            assert second_browser.get("/").status_code == 200
    assert not page.exists()  # removed when the UI stops


def test_ui_login_token_visible_in_process_list(mediator_home: Path, tmp_path: Path):
    """Any local user reads a browser's command line (``ps``) and whatever the terminal shows."""
    argv_log = tmp_path / "browser-argv.txt"
    fake_browser = tmp_path / "browser.sh"
    fake_browser.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" >> {argv_log}\n')
    fake_browser.chmod(0o755)
    with parley_ui(mediator_home, env={"BROWSER": str(fake_browser)}) as proc:
        first = proc.stdout.readline()
        deadline = time.monotonic() + 10
        while not argv_log.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert argv_log.exists(), "parley ui did not open a browser"
        token = TOKEN.search(_login_link(mediator_home / "ui-login.html")).group(1)
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    assert token not in argv_log.read_text()
    assert argv_log.read_text().strip().startswith("file://")
    assert token not in first + out + err


def test_ui_login_token_replayed_from_browser_history(talks):
    server = talks.ui["russia"]
    link = server.login_url()
    with httpx.Client(timeout=10) as owner, httpx.Client(timeout=10) as intruder:
        assert owner.get(link).status_code == 200
        assert intruder.get(link).status_code == 403
        assert intruder.get(server.base + "/").status_code == 401


def test_ui_login_token_used_after_it_expired():
    now = [1000.0]
    guard = Guard(lifetime=120, clock=lambda: now[0])
    token = guard.issue_token()
    now[0] += 121
    assert not guard.token_pending
    assert not guard.redeem_token(token)
    fresh = guard.issue_token()
    assert guard.token_pending and guard.redeem_token(fresh) and not guard.redeem_token(fresh)
