"""The key agent (``parley unlock`` / ``parley lock``): keys unlocked for a while, for this user only."""

from __future__ import annotations

import json
import os
import socket
import stat
import threading
import time
from pathlib import Path

import pytest

from cli_runner import run
from parley.client import agent
from parley.demo import DEMO_RELAY_NAME, LocalRelay
from parley.errors import ConfigError

PASSPHRASE = "correct horse"


@pytest.fixture
def agent_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = Path("/tmp") / f"parley-agent-test-{os.getpid()}-{time.monotonic_ns()}"  # short: AF_UNIX paths
    monkeypatch.setenv(agent.AGENT_DIR_ENV, str(folder))
    yield folder
    for sock in folder.glob("*.sock"):
        agent.lock(tmp_path)  # any agent left by a failed assertion
        sock.unlink(missing_ok=True)
    if folder.exists():
        folder.rmdir()


@pytest.fixture
def profile_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, agent_dir: Path) -> Path:
    monkeypatch.setenv("PARLEY_PASSPHRASE", PASSPHRASE)
    home = tmp_path / "ua"
    data = ["--data", str(tmp_path / "relay"), "--database", str(tmp_path / "relay.db"), "--name", DEMO_RELAY_NAME]
    with LocalRelay(tmp_path / "relay", tmp_path / "relay.db") as local:
        code, out, err = run("--json", "relay", "invite-party", "Ukraine", *data)
        assert code == 0, err
        code, _, err = run("--json", "--home", str(home), "party", "create", "Ukraine", "--relay", local.url,
                           "--token", json.loads(out)["token"])
        assert code == 0, err
        yield home
    agent.lock(home)


def test_unlocked_keys_answer_commands_without_the_passphrase_until_lock(profile_home: Path,
                                                                         monkeypatch: pytest.MonkeyPatch):
    code, out, err = run("--json", "--home", str(profile_home), "unlock", "--timeout", "60")
    assert code == 0, err
    monkeypatch.delenv("PARLEY_PASSPHRASE")  # and stdin is no terminal: only the agent can unlock now
    code, out, err = run("--json", "--home", str(profile_home), "negotiation", "list")
    assert code == 0, err
    sock = agent.socket_path(profile_home)
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    assert stat.S_IMODE(sock.parent.stat().st_mode) == 0o700
    assert 0 < agent.agent_status(profile_home)["expires_in"] <= 60
    code, out, _ = run("--json", "--home", str(profile_home), "lock")
    assert code == 0 and json.loads(out)["agent_was_running"] is True
    assert not sock.exists()
    code, _, err = run("--home", str(profile_home), "negotiation", "list")
    assert code == 2 and "no passphrase" in err


def test_unlocked_keys_outlive_the_agent_timeout(profile_home: Path):
    secrets = {"signing_seed": "x"}
    agent.start_agent(profile_home, secrets, lifetime=1)
    assert agent.agent_secrets(profile_home) == secrets
    deadline = time.monotonic() + 10
    while agent.socket_path(profile_home).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert agent.agent_secrets(profile_home) is None


def test_agent_socket_planted_in_a_shared_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Another local user prepares a folder everyone may enter: the client refuses to use it."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    planted = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    monkeypatch.setenv(agent.AGENT_DIR_ENV, str(shared))
    home = tmp_path / "ua"
    try:
        planted.bind(str(agent.socket_path(home)))
        planted.listen(1)
        with pytest.raises(ConfigError, match="not private"):
            agent.agent_secrets(home)
        with pytest.raises(ConfigError, match="not private"):
            agent.start_agent(home, {"signing_seed": "x"}, lifetime=5)
    finally:
        planted.close()


def test_agent_refuses_another_users_peer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, agent_dir: Path):
    """A peer whose credentials show another user id gets no answer (simulated: the agent's own uid
    check is given a different uid)."""
    home = tmp_path / "ua"
    agent_dir.mkdir(mode=0o700)

    secrets = {"signing_seed": "x"}
    listening = threading.Event()
    server = threading.Thread(target=agent.serve, args=(home, secrets, 5.0, listening.set), daemon=True)
    monkeypatch.setattr(agent, "_peer_uid", lambda sock: os.getuid() + 1)
    server.start()
    assert listening.wait(5)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect(str(agent.socket_path(home)))
        try:
            # The agent may close before the request is written: a broken pipe is the same refusal.
            sock.sendall(b'{"op": "secrets"}\n')
            answer = sock.recv(100)
        except (BrokenPipeError, ConnectionResetError):
            answer = b""
        assert answer == b""  # closed without a word
    monkeypatch.setattr(agent, "_peer_uid", lambda sock: os.getuid())
    assert agent.lock(home)
    server.join(timeout=5)
    assert not server.is_alive()
