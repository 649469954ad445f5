"""The key agent: one profile's keys kept unlocked for a limited time, as ``gpg-agent`` keeps a passphrase.

``parley unlock`` opens the keystore once (scrypt, about a second) and starts an agent process that holds
the decrypted key set in memory and answers on a Unix socket; every later command of that profile takes
the keys from the agent instead of running scrypt again. ``parley lock`` or the end of the lifetime stops
the agent, and the keys are gone with its process.

Who may ask: the socket lives in a folder only the user can enter (0700, owned by the user, refused
otherwise), is itself 0600, and the agent answers only a peer whose credentials (``SO_PEERCRED``) show the
same user id. A process running as the user can ask, exactly as it could read the passphrase typed on the
user's terminal; other local users cannot.

Commands run by the agent: the agent has imported the client's modules once, so a read command handed to
it (``parley.cli.launch``) starts in a fork of a process that is ready, instead of a new interpreter that
imports them all again. The caller passes its standard streams (``SCM_RIGHTS``), its arguments, working
folder and environment; the fork takes them as its own, runs the command exactly as the ``parley`` program
would, and sends back its exit status. It runs the caller's command with the keys the caller could have
asked for, so it gives a peer nothing it could not have had (the same peer check guards it). The agent runs
only a command of its own code: a caller of another parley version or installation runs in-process.

Wire form: one JSON object per line each way, ``{"op": "secrets" | "status" | "lock" | "run"}``; a ``run``
request carries three file descriptors and is answered twice: ``{"pid"}`` once the command starts, then
``{"exit"}``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import socket
import stat
import struct
import sys
import time
import traceback
from collections.abc import Callable
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


def _read_line(sock: socket.socket, data: bytes = b"") -> dict[str, Any]:
    """One JSON object line, continuing from the bytes already received (``data``).

    Raises:
        ValueError: not one JSON object, or too long.  OSError: the peer went away.
    """
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


def start_agent(home: Path, secrets: dict[str, Any], lifetime: float = DEFAULT_LIFETIME,
                entry: str = "parley.client.agent") -> dict[str, Any]:
    """Start an agent holding ``secrets`` for ``lifetime`` seconds (stopping any earlier agent of ``home``).
    ``entry`` is the module its process runs (``agent_main``, with or without commands to run).

    The key set reaches the agent through a pipe, never its command line or environment.

    Raises:
        ConfigError: a lifetime out of range, or the agent folder is not private.
        KeystoreError: the agent did not start.
    """
    if not 0 < lifetime <= MAX_LIFETIME:
        raise ConfigError(f"the agent's lifetime must be between 1 second and {MAX_LIFETIME // 3600} hours")
    import subprocess

    home = home.expanduser().resolve()
    _private_dir(agent_dir(), create=True)
    lock(home)
    child = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", entry, str(home), str(lifetime)],
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


#: runs ``parley ARGV`` in this process and returns its exit code (the command line's own ``main``)
CommandRunner = Callable[[list[str]], int]


def serve(home: Path, secrets: dict[str, Any], lifetime: float, ready: Any = None,
          warm: Callable[[], None] | None = None, run_command: CommandRunner | None = None) -> None:
    """Answer on the socket of ``home`` until ``lifetime`` seconds have passed or a ``lock`` arrives.
    ``warm`` runs once the socket answers (the agent process imports what commands run in it will need);
    ``run_command`` runs the commands handed to the agent (without it, ``run`` requests are refused)."""
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
    if warm is not None:
        warm()
    try:
        while (left := deadline - time.monotonic()) > 0:
            server.settimeout(min(left, 60.0))
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                if not _answer(conn, secrets, deadline, on_lock=lambda: path.unlink(missing_ok=True),
                               listening=server, run_command=run_command):
                    return
    finally:
        server.close()
        path.unlink(missing_ok=True)
        secrets.clear()


def _read_request(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    """One request line and the file descriptors that came with its first bytes.

    Raises:
        ValueError: not one JSON object, or too long.  OSError: the peer went away.
    """
    data, fds, _flags, _address = socket.recv_fds(conn, 65536, 3)
    try:
        if not data:
            raise ValueError("no request")
        return _read_line(conn, data), fds
    except BaseException:
        _close_all(fds)
        raise


def _close_all(fds: list[int]) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass


def _answer(conn: socket.socket, secrets: dict[str, Any], deadline: float, on_lock: Any = None,
            listening: socket.socket | None = None, run_command: CommandRunner | None = None) -> bool:
    """Answer one request; False when the agent must stop (``on_lock`` runs first, before the answer)."""
    conn.settimeout(5)
    try:
        if _peer_uid(conn) != os.getuid():
            return True  # another user: no answer at all
        request, fds = _read_request(conn)
    except (OSError, ValueError):
        return True
    op = request.get("op")
    if op == "run":
        _run_forked(conn, request, fds, listening, run_command)
        return True
    _close_all(fds)
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


def code_identity() -> str:
    """Which parley code runs here: its version and where it is installed. A command is run by an agent only
    if this is the same on both sides."""
    import parley

    return f"{parley.__version__} {Path(parley.__file__).resolve().parent} {sys.executable}"


def _run_forked(conn: socket.socket, request: dict[str, Any], fds: list[int],
                listening: socket.socket | None, run_command: CommandRunner | None) -> None:
    """Run the command of ``request`` in a fork of this process, on the caller's streams ``fds``; the fork
    answers the caller itself (``{"pid"}``, then ``{"exit"}``). This process goes back to listening."""
    argv, cwd, env = request.get("argv"), request.get("cwd"), request.get("env")
    usable = (run_command is not None and len(fds) == 3 and request.get("code") == code_identity()
              and isinstance(cwd, str)
              and isinstance(argv, list) and all(isinstance(a, str) for a in argv)
              and isinstance(env, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()))
    if not usable:
        _close_all(fds)
        try:
            conn.sendall(b'{"error": "not run here"}\n')
        except OSError:
            pass
        return
    pid = os.fork()
    if pid:
        _close_all(fds)
        return
    code = 1
    try:
        if listening is not None:
            listening.close()
        code = _command_in_this_fork(conn, argv, cwd, env, fds, run_command)
    finally:
        os._exit(code)


def _command_in_this_fork(conn: socket.socket, argv: list[str], cwd: str, env: dict[str, str],
                          fds: list[int], run_command: CommandRunner) -> int:
    """Become the caller's ``parley`` process (streams, folder, environment) and run ``argv``; its exit code."""
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the agent reaps nothing here: subprocesses wait as usual
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.setpgid(0, 0)  # the caller forwards Ctrl-C to this group
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        encoding = env.get("PYTHONIOENCODING", "utf-8").split(":")[0] or "utf-8"
        sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding=encoding)
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding=encoding,
                                      line_buffering=os.isatty(1))
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding=encoding,
                                      errors="backslashreplace", line_buffering=True)
        conn.settimeout(None)
        conn.sendall(json.dumps({"pid": os.getpid()}).encode() + b"\n")
        code = run_command(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        try:
            conn.sendall(json.dumps({"exit": code}).encode() + b"\n")
        except OSError:
            pass
    return code


def run_in_agent(home: Path, argv: list[str]) -> int | None:
    """Run ``parley ARGV`` in the key agent of ``home`` on this process's standard streams, and return its
    exit code; None when no agent of this code serves ``home`` (the caller then runs the command itself;
    nothing ran). Ctrl-C and termination are passed on to the command.

    Raises nothing of its own: a broken agent means None, or 1 with a message if the command had started.
    """
    path = socket_path(home)
    try:
        if not _private_dir(path.parent, create=False) or not path.exists():
            return None
    except ConfigError:
        return None  # the command, run here, says what is wrong with the folder
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(5)
        sock.connect(str(path))
        if _peer_uid(sock) != os.getuid():
            return None
        request = {"op": "run", "argv": argv, "cwd": os.getcwd(), "env": dict(os.environ), "code": code_identity()}
        data = json.dumps(request).encode() + b"\n"
        socket.send_fds(sock, [data[:1]], [0, 1, 2])
        sock.sendall(data[1:])
        answers = sock.makefile("rb")
        started = json.loads(answers.readline() or b"null")
    except (OSError, ValueError):
        sock.close()
        return None
    if not isinstance(started, dict) or not isinstance(started.get("pid"), int):
        sock.close()
        return None
    return _wait_for_exit(sock, answers, started["pid"])


def _wait_for_exit(sock: socket.socket, answers: Any, pid: int) -> int:
    def pass_on(signum: int, _frame: Any) -> None:
        try:
            os.killpg(pid, signum)
        except OSError:
            pass

    previous = {signum: signal.signal(signum, pass_on) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        sock.settimeout(None)
        while True:
            try:
                line = answers.readline()
                break
            except InterruptedError:
                continue
        finished = json.loads(line) if line else None
    except (OSError, ValueError):
        finished = None
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        sock.close()
    if not isinstance(finished, dict) or not isinstance(finished.get("exit"), int):
        sys.stderr.write("parley: the command run by the key agent ended without an exit status\n")
        return 1
    return finished["exit"]


def agent_main(argv: list[str], warm: Callable[[], None] | None = None,
               run_command: CommandRunner | None = None) -> int:
    """The agent process: ``HOME LIFETIME`` as arguments, the key set as one JSON line on standard input."""
    home, lifetime = Path(argv[0]), float(argv[1])
    secrets = json.loads(sys.stdin.buffer.readline())
    sys.stdin.close()
    os.chdir("/")

    def ready() -> None:
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        sys.stdout.close()

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # commands run in forks are reaped by the system
    serve(home, secrets, lifetime, ready, warm=warm, run_command=run_command)
    return 0


if __name__ == "__main__":
    raise SystemExit(agent_main(sys.argv[1:]))
