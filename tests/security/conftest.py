"""Fixtures of the security suite: the client suite's trio / compromise / fork fixtures, and a relay on a socket."""

from __future__ import annotations

import importlib.util
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

_CLIENT_TESTS = Path(__file__).resolve().parent.parent / "client"
if str(_CLIENT_TESTS) not in sys.path:
    sys.path.insert(0, str(_CLIENT_TESTS))  # malicious_relay.py, shared with tests/client

_spec = importlib.util.spec_from_file_location("parley_client_test_fixtures", _CLIENT_TESTS / "conftest.py")
_client_fixtures = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _client_fixtures
_spec.loader.exec_module(_client_fixtures)
trio = _client_fixtures.trio
compromise = _client_fixtures.compromise
fork_relay = _client_fixtures.fork_relay


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def served(app, **uvicorn_options) -> Iterator[str]:  # noqa: ANN001
    """Serve an ASGI app with uvicorn on a free 127.0.0.1 port in a thread; yields its base URL."""
    import uvicorn

    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", access_log=False,
                            lifespan="off", **uvicorn_options)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def talks(world):  # noqa: ANN001, ANN201
    """Ukraine and Russia negotiate; Türkiye is enrolled but outside the negotiation."""
    ukraine = world.party("Ukraine")
    russia = world.party("Russian Federation")
    turkiye = world.party("Türkiye")
    negotiation_id = world.negotiation(ukraine, russia)
    return world, ukraine, russia, turkiye, negotiation_id
