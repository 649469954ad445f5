"""Serving the UI on 127.0.0.1: a background-thread server (tests, demo) and the ``parley ui`` launcher."""

from __future__ import annotations

import html
import os
import signal
import socket
import threading
import time
import webbrowser
from collections.abc import Callable
from pathlib import Path

from starlette.applications import Starlette

from parley.client.sdk import Client
from parley.ui.app import create_ui_app

HOST = "127.0.0.1"  # never anything else: the UI holds unlocked keys


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


class UIServer:
    """One member's UI served by uvicorn in a background thread on 127.0.0.1."""

    def __init__(self, client: Client, *, port: int = 0, token: str | None = None, interval: float = 1.0,
                 stream: bool = False, full_verify_every: float = 60.0) -> None:
        import uvicorn

        self.app: Starlette = create_ui_app(client, token, interval=interval, stream=stream,
                                            full_verify_every=full_verify_every)
        self.port = port or free_port()
        self.base = f"http://{HOST}:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(self.app, host=HOST, port=self.port, log_level="warning",
                                                    access_log=False, lifespan="on", timeout_graceful_shutdown=2))
        self.thread = threading.Thread(target=self.server.run, name=f"parley-ui-{self.port}", daemon=True)

    def login_url(self) -> str:
        """A login URL with a fresh single-use token (any unused earlier one stops working)."""
        return f"{self.base}/login?token={self.app.state.ui.guard.issue_token()}"

    def write_login_page(self, path: Path) -> None:
        """Write (mode 0600) a page that sends the browser to a fresh login URL: opened as ``file://``, it
        keeps the token off every command line (``ps``) and out of every terminal."""
        url = html.escape(self.login_url(), quote=True)
        page = ("<!doctype html><html lang='en'><head><meta charset='utf-8'><title>parley: sign in</title>"
                f"<meta http-equiv='refresh' content='0;url={url}'></head><body>"
                f"<p><a href='{url}'>Sign in to parley</a> (a link that works once, for two minutes).</p>"
                "</body></html>\n")
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(page)
        os.replace(tmp, path)

    def start(self) -> UIServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"the UI server did not start on {self.base}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def __enter__(self) -> UIServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


LOGIN_PAGE = "ui-login.html"


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def serve(client: Client, *, port: int = 0, open_browser: bool = True, stream: bool = True,
          announce: Callable[[str], None] = print) -> None:
    """Serve until Ctrl-C. The first thing announced is the ``file://`` URL of the login page (0600, in the
    profile folder), which always holds a fresh single-use login link while the UI runs."""
    login_page = client.profile.home / LOGIN_PAGE
    with UIServer(client, port=port, stream=stream) as server:
        guard = server.app.state.ui.guard
        server.write_login_page(login_page)
        announce(login_page.resolve().as_uri())
        announce(f"parley ui: {client.profile.member} ({client.profile.party.name}) on {server.base} "
                 "(127.0.0.1 only). Open the page above in your browser to sign in (each visit signs in one "
                 "browser once). Ctrl-C stops.")
        if open_browser:
            webbrowser.open(login_page.resolve().as_uri())
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops the UI as Ctrl-C does: page removed
        try:
            while server.thread.is_alive():
                server.thread.join(timeout=0.5)
                if not guard.token_pending:  # used or expired: the page gets the next link
                    server.write_login_page(login_page)
        except KeyboardInterrupt:
            announce("stopping the UI")
        finally:
            login_page.unlink(missing_ok=True)
