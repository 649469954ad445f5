"""Serving the UI on 127.0.0.1: a background-thread server (tests, demo) and the ``parley ui`` launcher."""

from __future__ import annotations

import socket
import threading
import time
import webbrowser
from collections.abc import Callable

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

    @property
    def token(self) -> str:
        return self.app.state.ui.guard.token

    @property
    def url(self) -> str:
        """The login URL: it carries the per-launch token."""
        return f"{self.base}/login?token={self.token}"

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


def serve(client: Client, *, port: int = 0, open_browser: bool = True, stream: bool = True,
          announce: Callable[[str], None] = print) -> None:
    """Serve until Ctrl-C. The first thing announced is the URL with the per-launch token."""
    with UIServer(client, port=port, stream=stream) as server:
        announce(server.url)
        announce(f"parley ui: {client.profile.member} ({client.profile.party.name}) on {server.base} "
                 "(127.0.0.1 only). Keep the URL private: it signs a browser in. Ctrl-C stops.")
        if open_browser:
            webbrowser.open(server.url)
        try:
            while server.thread.is_alive():
                server.thread.join(timeout=0.5)
        except KeyboardInterrupt:
            announce("stopping the UI")
