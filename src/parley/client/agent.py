"""The key agent: one profile's keys kept unlocked for a limited time, as ``gpg-agent`` keeps a passphrase.

``parley unlock`` opens the keystore once (scrypt, about a second) and starts an agent process that holds
the decrypted key set in memory and answers on a Unix socket; every later command of that profile takes
the keys from the agent instead of running scrypt again. ``parley lock`` or the end of the lifetime stops
the agent, and the keys are gone with its process.

Who may ask: the socket lives in a folder only the user can enter (0700, owned by the user, refused
otherwise), is itself 0600, and the agent answers only a peer whose credentials (``SO_PEERCRED``) show the
same user id. A process running as the user can ask, exactly as it could read the passphrase typed on the
user's terminal; other local users cannot.

Wire form: one JSON object per line each way, ``{"op": "secrets" | "status" | "lock"}``.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import stat
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from parley.errors import ConfigError, KeystoreError

#: seconds the keys stay unlocked unless ``parley unlock --timeout`` says otherwise
DEFAULT_LIFETIME = 15 * 60
MAX_LIFETIME = 24 * 3600
AGENT_DIR_ENV = "PARLEY_AGENT_DIR"
_MAX_MESSAGE = 1 << 20


def agent_dir() -> Path:
    """The folder of the agents' sockets: ``$PARLEY_AGENT_DIR``, else ``$XDG_RUNTIME_DIR/parley``, else
    ``/tmp/parley-agent-<uid>``."""
    if os.environ.get(AGENT_DIR_ENV):
        return Path(os.environ[AGENT_DIR_ENV])
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "parley"
    return Path("/tmp") / f"parley-agent-{os.getuid()}"  # noqa: S108 - checked private below


def socket_path(home: Path) -> Path:
    """The socket of the agent of the profile in ``home`` (short enough for ``AF_UNIX`` whatever ``home`` is)."""
    digest = hashlib.sha256(str(home.expanduser().resolve()).encode()).hexdigest()[:24]
    return agent_dir() / f"{digest}.sock"


def _private_dir(path: Path, *, create: bool) -> bool:
    """True if ``path`` is a folder only this user can enter; created so when ``create``.

    Raises:
        ConfigError: it exists but another user owns it or others may enter it (someone could plant a socket).
    """
    if create:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or stat.S_IMODE(info.st_mode) & 0o077:
        raise ConfigError(f"the key agent folder {path} is not private to you (mode "
                          f"{oct(stat.S_IMODE(info.st_mode))}, owner {info.st_uid})",
                          hint=f"remove it or set {AGENT_DIR_ENV} to a folder only you can enter")
    return True


def _peer_uid(sock: socket.socket) -> int:
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid


def _read_line(sock: socket.socket) -> dict[str, Any]:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
        if len(data) > _MAX_MESSAGE:
            raise ValueError("message too long")
    message = json.loads(data)
    if not isinstance(message, dict):
        raise ValueError("not a JSON object")
    return message


def _ask(home: Path, request: dict[str, Any]) -> dict[str, Any] | None:
    """The agent's answer, or None when no agent serves this profile."""
    path = socket_path(home)
    if not _private_dir(path.parent, create=False) or not path.exists():
        return None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        try:
            sock.connect(str(path))
        except (ConnectionRefusedError, FileNotFoundError):
            return None  # a socket left by an agent that died
        if _peer_uid(sock) != os.getuid():
            raise ConfigError(f"the key agent socket {path} is served by another user: not used")
        sock.sendall(json.dumps(request).encode() + b"\n")
        try:
            return _read_line(sock)
        except (OSError, ValueError):
            return None


def agent_secrets(home: Path) -> dict[str, Any] | None:
    """The unlocked key set of the profile in ``home`` if an agent holds it, else None.

    Raises:
        ConfigError: the agent folder or socket is not private to this user.
    """
    answer = _ask(home, {"op": "secrets"})
    if answer is None or not isinstance(answer.get("secrets"), dict):
        return None
    return answer["secrets"]


def agent_status(home: Path) -> dict[str, Any] | None:
    """``{"pid", "expires_in"}`` of the agent of ``home``, or None."""
    return _ask(home, {"op": "status"})


def lock(home: Path) -> bool:
    """Stop the agent of ``home``; True if one was running."""
    return _ask(home, {"op": "lock"}) is not None


def start_agent(home: Path, secrets: dict[str, Any], lifetime: float = DEFAULT_LIFETIME) -> dict[str, Any]:
    """Start an agent holding ``secrets`` for ``lifetime`` seconds (stopping any earlier agent of ``home``).

    The key set reaches the agent through a pipe, never its command line or environment.

    Raises:
        ConfigError: a lifetime out of range, or the agent folder is not private.
        KeystoreError: the agent did not start.
    """
    if not 0 < lifetime <= MAX_LIFETIME:
        raise ConfigError(f"the agent's lifetime must be between 1 second and {MAX_LIFETIME // 3600} hours")
    home = home.expanduser().resolve()
    _private_dir(agent_dir(), create=True)
    lock(home)
    child = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "parley.client.agent", str(home), str(lifetime)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True,
        close_fds=True)
    if child.stdin is None or child.stdout is None:
        raise KeystoreError("the key agent did not start")
    child.stdin.write(json.dumps(secrets).encode() + b"\n")
    child.stdin.close()
    ready = child.stdout.readline().decode().strip()
    child.stdout.close()
    if ready != "ready":
        child.kill()
        raise KeystoreError("the key agent did not start")
    return {"pid": child.pid, "socket": str(socket_path(home)), "expires_in": lifetime}


def serve(home: Path, secrets: dict[str, Any], lifetime: float, ready: Any = None) -> None:
    """Answer on the socket of ``home`` until ``lifetime`` seconds have passed or a ``lock`` arrives."""
    path = socket_path(home)
    _private_dir(path.parent, create=True)
    path.unlink(missing_ok=True)
    deadline = time.monotonic() + lifetime
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)  # the socket file is created 0600
    try:
        server.bind(str(path))
    finally:
        os.umask(old_umask)
    server.listen(16)
    if ready is not None:
        ready()
    try:
        while (left := deadline - time.monotonic()) > 0:
            server.settimeout(min(left, 60.0))
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                if not _answer(conn, secrets, deadline, on_lock=lambda: path.unlink(missing_ok=True)):
                    return
    finally:
        server.close()
        path.unlink(missing_ok=True)
        secrets.clear()


def _answer(conn: socket.socket, secrets: dict[str, Any], deadline: float, on_lock: Any = None) -> bool:
    """Answer one request; False when the agent must stop (``on_lock`` runs first, before the answer)."""
    conn.settimeout(5)
    try:
        if _peer_uid(conn) != os.getuid():
            return True  # another user: no answer at all
        op = _read_line(conn).get("op")
    except (OSError, ValueError):
        return True
    expires_in = round(deadline - time.monotonic())
    if op == "secrets":
        reply: dict[str, Any] = {"secrets": secrets, "expires_in": expires_in}
    elif op == "status":
        reply = {"pid": os.getpid(), "expires_in": expires_in}
    elif op == "lock":
        if on_lock is not None:
            on_lock()  # the socket goes before the answer: once 'parley lock' returns, no agent is found
        reply = {"locked": True}
    else:
        reply = {"error": "unknown request"}
    try:
        conn.sendall(json.dumps(reply).encode() + b"\n")
    except OSError:
        pass
    return op != "lock"


def _main(argv: list[str]) -> int:
    home, lifetime = Path(argv[0]), float(argv[1])
    secrets = json.loads(sys.stdin.buffer.readline())
    sys.stdin.close()
    os.chdir("/")

    def ready() -> None:
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        sys.stdout.close()

    serve(home, secrets, lifetime, ready)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
