"""``parley relay serve --workers N``: N HTTP worker processes and one writer.

The supervisor (this process) opens the database (its schema must be current), binds the listening socket and
starts the writer (``parley.relay.sequencer.SequencerServer`` around the ``Ingestor``). It then spawns
N worker processes that share the socket; each serves the whole API and hands posts to the writer. A
worker that dies is started again (at most ``MAX_RESTARTS`` in a minute, then the relay stops); SIGINT
or SIGTERM stops the workers, then the writer, which finishes the batch in hand.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from datetime import UTC, datetime

from parley.errors import ConfigError
from parley.relay.ingest import Ingestor
from parley.relay.metrics import MULTIPROCESS_DIR_VARIABLE
from parley.relay.sequencer import SequencerServer, new_address
from parley.relay.server import (
    RelayConfig,
    build_app,
    configure_relay_logging,
    load_signer,
    open_relay_store,
    tune_garbage_collector,
)

log = logging.getLogger(__name__)

#: worker restarts allowed within a minute before the whole relay stops
MAX_RESTARTS = 5
#: seconds a stopping worker gets to finish its requests
STOP_GRACE_SECONDS = 10.0


def bind_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """One listening socket per worker, all on one port with ``SO_REUSEPORT``: the kernel spreads new
    connections over them. (With one shared socket, the worker that wakes first accepts every pending
    connection in one go, and keep-alive clients stay where they landed.) Without
    ``SO_REUSEPORT`` (not Linux or BSD), every worker shares one socket.

    Raises:
        ConfigError: the address is taken or not available.
    """
    if not hasattr(socket, "SO_REUSEPORT"):
        return [_bind(host, port, reuse_port=False)] * count
    sockets = [_bind(host, port, reuse_port=True)]
    port = sockets[0].getsockname()[1]
    try:
        sockets += [_bind(host, port, reuse_port=True) for _ in range(count - 1)]
    except ConfigError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _bind(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _worker_main(config: RelayConfig, writer: tuple[str, bytes], sock: socket.socket) -> None:
    """Entry point of one worker process (spawned: nothing is inherited but these arguments and the
    environment, which names the metrics directory)."""
    import uvicorn

    configure_relay_logging(config)
    app = build_app(config, writer=writer)
    server = uvicorn.Server(uvicorn.Config(app, log_level=config.log_level, access_log=False, log_config=None,
                                           http=config.http, limit_concurrency=config.limit_concurrency))
    tune_garbage_collector()
    try:
        server.run(sockets=[sock])
    finally:
        app.state.relay.close()


def serve_workers(config: RelayConfig) -> int:
    """Run the relay with ``config.workers`` HTTP processes until SIGINT or SIGTERM; returns the exit
    status (1 when workers kept dying).

    Raises:
        ConfigError: fewer than 2 workers asked for, the address cannot be bound, or no relay key.
        StorageError: the database cannot be opened, or its schema is not current.
    """
    workers = config.workers
    if workers < 2:
        raise ConfigError("--workers needs at least 2 (1 is the plain single-process relay)")
    configure_relay_logging(config)
    signer = load_signer(config)
    sockets = bind_sockets(config.host, config.port, workers)  # a port in use is refused before anything starts
    try:
        store = open_relay_store(config)  # checked once, before any worker starts
    except BaseException:
        for sock in set(sockets):
            sock.close()
        raise
    # prometheus_client's multiprocess mode: every worker's counters in files of one fresh directory
    metrics_dir = tempfile.mkdtemp(prefix="parley-relay-metrics-")
    previous_metrics_dir = os.environ.get(MULTIPROCESS_DIR_VARIABLE)
    os.environ[MULTIPROCESS_DIR_VARIABLE] = metrics_dir
    ingestor = Ingestor(store, signer, config.name, config.limits, lambda: datetime.now(UTC))
    address = new_address()
    writer = SequencerServer(ingestor, *address)
    tune_garbage_collector()
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    context = multiprocessing.get_context("spawn")

    def start(index: int) -> multiprocessing.process.BaseProcess:
        # A restarted worker takes over its predecessor's socket, which this process keeps open: the
        # connections that arrive meanwhile wait in its backlog.
        process = context.Process(target=_worker_main, args=(config, address, sockets[index]),
                                  name="parley-relay-worker", daemon=False)
        process.start()
        return process

    processes = [start(index) for index in range(workers)]
    restarts: list[float] = []
    status = 0
    try:
        while not stop.wait(0.5):
            for index, process in enumerate(processes):
                if process.is_alive():
                    continue
                now = time.monotonic()
                restarts = [t for t in restarts if now - t < 60] + [now]
                if len(restarts) > MAX_RESTARTS:
                    log.error("relay workers keep exiting (last exit code %s): stopping", process.exitcode)
                    status = 1
                    stop.set()
                    break
                log.warning("relay worker %s exited with code %s: starting another", process.pid, process.exitcode)
                processes[index] = start(index)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes the requests in hand
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for process in processes:
            process.join(timeout=max(0.1, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
        for sock in set(sockets):
            sock.close()
        writer.close()
        ingestor.close()
        store.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if previous_metrics_dir is None:
            os.environ.pop(MULTIPROCESS_DIR_VARIABLE, None)
        else:
            os.environ[MULTIPROCESS_DIR_VARIABLE] = previous_metrics_dir
        shutil.rmtree(metrics_dir, ignore_errors=True)
    return status
