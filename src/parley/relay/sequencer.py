"""One writer for several relay worker processes (``parley relay serve --workers N``).

A relay process is one core of Python: HTTP parsing, request authentication and the event's
signature check on its event loop, and the writer thread beside it, both under one GIL. With
``--workers N`` the HTTP work is spread over N worker processes, and one process (the supervisor,
``parley.relay.workers``) runs the only writer. Each worker checks a post in full (request signature,
membership, the event's signature when it knows the author's key) and hands the envelope to the
writer over a local socket; the writer applies the rule book to it against the authoritative state,
appends it with everyone else's in one group commit, and answers with the sequence number and the
inclusion proof. Commits and device revocations are broadcast to every worker, which wakes its live
streams and drops its cached device rows.

The socket is an abstract Unix socket authenticated with a random key that only the supervisor and
its workers know (``multiprocessing.connection``: HMAC challenge on connect). A worker trusts its
writer and the writer trusts the signature checks of its workers: they are one relay, one operator.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import secrets
import signal
import socket
import struct
import threading
from collections.abc import Callable
from concurrent.futures import Future
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Connection, Listener, answer_challenge, deliver_challenge
from typing import Any

from parley import errors
from parley.errors import ParleyError, StorageError
from parley.protocol.events import Envelope
from parley.relay.ingest import Ingestor, StateCache
from parley.settings import Limits
from parley.store.relay_store import NegotiationHead, RelayStore

log = logging.getLogger(__name__)

#: seconds a worker waits for the writer's counters (``/metrics``)
STATS_TIMEOUT = 5.0
#: seconds a connection to the writer has to complete the authentication handshake
HANDSHAKE_SECONDS = 5
#: seconds the writer waits for a worker to take a message before it hangs up on that worker
SEND_TIMEOUT_SECONDS = 10


def new_address() -> tuple[str, bytes]:
    """A fresh (abstract Unix socket name, authentication key) for one relay's writer."""
    return f"\0parley-writer-{os.getpid()}-{secrets.token_hex(8)}", secrets.token_bytes(32)


def _set_receive_timeout(conn: Connection, seconds: float) -> None:
    """SO_RCVTIMEO on the connection's socket: a read blocks at most ``seconds`` (0: for ever), then fails."""
    with socket.fromfd(conn.fileno(), socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", int(seconds), 0))


def _shut_down(conn: Connection) -> None:
    """Wake a thread blocked reading ``conn`` (its read sees EOF), which closing the descriptor does not."""
    try:
        with socket.fromfd(conn.fileno(), socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.shutdown(socket.SHUT_RDWR)
    except (OSError, ValueError):
        pass  # already closed


def _hang_up(conn: Connection) -> None:
    """Close a connection another thread may be blocked reading (used where only this thread closes it)."""
    _shut_down(conn)
    conn.close()


class _Peer:
    """One worker's connection, in the writer. Its reading thread alone closes it; other threads (a
    failed send, ``close``) only shut it down, under the same lock: two threads closing one descriptor
    would fail with EBADF, or close whatever file had reused the number in between."""

    __slots__ = ("conn", "send_lock", "_close_lock")

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.send_lock = threading.Lock()
        self._close_lock = threading.Lock()

    def hang_up(self) -> None:
        with self._close_lock:
            if not self.conn.closed:
                _shut_down(self.conn)

    def close(self) -> None:
        with self._close_lock:
            if not self.conn.closed:
                self.conn.close()


def _error_payload(exc: BaseException) -> tuple[str, str, dict[str, Any]]:
    if isinstance(exc, ParleyError):
        return type(exc).__name__, exc.message, dict(vars(exc))
    return "StorageError", f"relay storage failed: {exc}", {}


def _error_from(payload: tuple[str, str, dict[str, Any]]) -> ParleyError:
    """The writer's refusal as the same ParleyError class (only classes of ``parley.errors``)."""
    name, message, state = payload
    cls = getattr(errors, name, None)
    if not (isinstance(cls, type) and issubclass(cls, ParleyError)):
        cls = StorageError
    exc = cls.__new__(cls)
    Exception.__init__(exc, message)
    exc.__dict__.update(state)
    return exc


class SequencerServer:
    """The writer's side: accepts worker connections and feeds their posts to the ``Ingestor``.

    It sets the ingestor's ``on_commit`` (workers hear of every commit) and ``after_batch`` (the answers of
    a batch go to each worker in one message) hooks.
    """

    def __init__(self, ingestor: Ingestor, address: str, authkey: bytes) -> None:
        self.ingestor = ingestor
        ingestor.on_commit = self.broadcast_appended
        ingestor.after_batch = self._flush_answers
        # The handshake is done per connection, in its own thread and with a deadline (Listener.accept would
        # do it inline, with none: one local process that connects and stalls would shut every worker out).
        self._authkey = authkey
        self._listener = Listener(address, family="AF_UNIX")
        self._connections: list[_Peer] = []
        self._lock = threading.Lock()
        # worker connection -> answers of the batch being written (writer thread only)
        self._answers: dict[_Peer, list[tuple]] = {}
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="parley-writer-accept", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn = self._listener.accept()
            except OSError:
                if self._closed.is_set():
                    return
                continue
            threading.Thread(target=self._serve, args=(conn,), name="parley-writer-conn", daemon=True).start()

    def _authenticate(self, conn: Connection) -> bool:
        """The multiprocessing HMAC challenge, both ways, within ``HANDSHAKE_SECONDS``."""
        try:
            _set_receive_timeout(conn, HANDSHAKE_SECONDS)
            deliver_challenge(conn, self._authkey)
            answer_challenge(conn, self._authkey)
            _set_receive_timeout(conn, 0)
            # The writer thread sends answers: a worker that stops reading must not stop every write.
            with socket.fromfd(conn.fileno(), socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", SEND_TIMEOUT_SECONDS, 0))
            return True
        except (AuthenticationError, OSError, EOFError) as exc:
            log.warning("refused a connection to the relay writer: %s", exc or "no handshake in time")
            conn.close()
            return False

    def _serve(self, conn: Connection) -> None:
        if not self._authenticate(conn):
            return
        entry = _Peer(conn)
        with self._lock:
            self._connections.append(entry)
        try:
            while True:
                message = conn.recv()
                kind = message[0]
                if kind == "submit":  # ("submit", [(request id, envelope, create, verified key), ...])
                    for request_id, envelope, create, verified_key in message[1]:
                        # The callback is attached before the event is queued, so it always runs in the writer
                        # thread, ahead of the batch's _flush_answers.
                        future: Future = Future()
                        future.add_done_callback(lambda f, r=request_id: self._answer(entry, r, f))
                        self.ingestor.submit(envelope, create=create, verified_key=verified_key, future=future)
                elif kind == "admission":  # ("admission", request id, negotiation id, party id, device key id)
                    self._send(entry, ("answers", [self._admission(*message[1:])]))
                elif kind == "stats":
                    self._send(entry, ("stats", message[1], self.ingestor.batches, self.ingestor.events_accepted))
                elif kind == "forget_device":
                    self.ingestor.store.forget_device(message[1])
                    self._broadcast(("forget_device", message[1]))
        except (EOFError, OSError, TypeError):
            pass  # the worker went away, or close() closed the connection under recv() (TypeError)
        finally:
            with self._lock:
                if entry in self._connections:
                    self._connections.remove(entry)
            entry.close()

    def _admission(self, request_id: int, negotiation_id: str, party_id: str, device_key_id: str) -> tuple:
        """A worker's read-access question, answered from the writer's state, which the writer keeps current:
        the workers need not apply every event's rules again to answer reads themselves."""
        try:
            return request_id, True, self.ingestor.admission(negotiation_id, party_id, device_key_id)
        except Exception as exc:  # noqa: BLE001 - the worker gets the error, this connection goes on
            return request_id, False, _error_payload(exc)

    def _answer(self, entry: _Peer, request_id: int, future: Future) -> None:
        """Runs in the writer thread as the batch resolves its futures; sent by ``_flush_answers``."""
        exc = future.exception()
        answer = (request_id, True, future.result()) if exc is None else (request_id, False, _error_payload(exc))
        self._answers.setdefault(entry, []).append(answer)

    def _flush_answers(self) -> None:
        answers, self._answers = self._answers, {}
        for entry, items in answers.items():
            self._send(entry, ("answers", items))

    def _send(self, entry: _Peer, message: tuple) -> None:
        try:
            with entry.send_lock:
                entry.conn.send(message)
        except (OSError, ValueError):
            # Gone, or not reading for SEND_TIMEOUT_SECONDS (a message may be cut): hang up. The worker sees
            # the writer gone and stops; the supervisor starts another.
            entry.hang_up()

    def _broadcast(self, message: tuple) -> None:
        with self._lock:
            entries = list(self._connections)
        for entry in entries:
            self._send(entry, message)

    def broadcast_appended(self, negotiation_id: str, size: int) -> None:
        self._broadcast(("appended", negotiation_id, size))

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        with self._lock:
            entries = list(self._connections)
        for entry in entries:
            entry.hang_up()


class RemoteIngestor(StateCache):
    """A worker's side: the ``Ingestor`` interface, with the writer in the supervisor process.

    Raises (from the futures): the ParleyError the writer refused the event with; StorageError when
    the writer is gone (the worker then shuts itself down: it cannot accept anything without it).
    """

    def __init__(self, store: RelayStore, limits: Limits, address: str, authkey: bytes, *,
                 on_appended: Callable[[str, int], None] | None = None,
                 exit_when_gone: bool = True) -> None:
        super().__init__(store, limits)
        self.on_appended = on_appended
        self._exit_when_gone = exit_when_gone
        try:
            self._conn = Client(address, family="AF_UNIX", authkey=authkey)
        except OSError as exc:
            raise StorageError(f"cannot reach the relay's writer process: {exc}") from None
        self._send_lock = threading.Lock()
        self._pending: dict[int, Future] = {}
        self._pending_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._gone = False
        self._outgoing: list[tuple] = []  # posts of this loop iteration, not yet sent (event loop only)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._read, name="parley-writer-link", daemon=True)
        self._thread.start()

    # ---- the Ingestor interface ------------------------------------------------------------------
    def submit(self, envelope: Envelope, *, create: bool = False,
               verified_key: str | None = None) -> Future | asyncio.Future:
        """Called on the event loop: an asyncio future, and the posts of one loop iteration go to the writer
        in one message. Called elsewhere (tests, tools): a concurrent future, sent at once."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return self._request(lambda request_id: ("submit", [(request_id, envelope, create, verified_key)]))
        future = loop.create_future()
        self._loop = loop
        request_id = self._register(future)
        if request_id is None:
            return future
        self._outgoing.append((request_id, envelope, create, verified_key))
        if len(self._outgoing) == 1:
            loop.call_soon(self._flush_outgoing)
        return future

    def _flush_outgoing(self) -> None:
        outgoing, self._outgoing = self._outgoing, []
        try:
            self._send(("submit", outgoing))
        except StorageError as exc:
            with self._pending_lock:
                futures = [self._pending.pop(item[0], None) for item in outgoing]
            for future in futures:
                if future is not None and not future.done():
                    future.set_exception(exc)

    def admission(self, negotiation_id: str, party_id: str, device_key_id: str,
                  head: NegotiationHead | None = None) -> str:
        """Asked of the writer (see ``StateCache.admission``), whose state is current: a worker's own would
        have to apply every event posted since it last looked, through every worker. ``head`` is not sent:
        the writer judges by its state after reading the head itself, later than the caller did.

        Raises:
            StorageError: the writer is gone, failed or did not answer.
        """
        future = self._request(lambda request_id: ("admission", request_id, negotiation_id, party_id, device_key_id))
        try:
            return future.result(timeout=STATS_TIMEOUT)
        except TimeoutError:
            raise StorageError("the relay's writer process did not answer") from None

    @property
    def alive(self) -> bool:
        """The link to the writer process is up (for the relay's readiness check)."""
        return not self._gone and self._thread.is_alive()

    @property
    def batches(self) -> int:
        return self._stats()[0]

    @property
    def events_accepted(self) -> int:
        return self._stats()[1]

    def device_revoked(self, device_key_id: str) -> None:
        """Every other worker drops its cached row of this device at once (not after its cache time). The
        revocation is stored already: without a writer to tell, the others drop the row within its cache
        time (``RelayStore.DEVICE_CACHE_SECONDS``)."""
        try:
            self._send(("forget_device", device_key_id))
        except StorageError:
            log.warning("could not tell the other workers of a revocation: the writer process is gone")

    def close(self) -> None:
        self._exit_when_gone = False
        _hang_up(self._conn)
        self._thread.join(timeout=5)

    # ---- the link ----------------------------------------------------------------------------------
    def _stats(self) -> tuple[int, int]:
        try:
            return self._request(lambda request_id: ("stats", request_id)).result(timeout=STATS_TIMEOUT)
        except TimeoutError:
            raise StorageError("the relay's writer process did not answer") from None

    def _register(self, future: Future | asyncio.Future) -> int | None:
        """A request id for ``future``'s answer; None (and the future failed) once the writer is gone."""
        request_id = next(self._ids)
        with self._pending_lock:
            if self._gone:
                future.set_exception(StorageError("the relay's writer process is gone"))
                return None
            self._pending[request_id] = future
        return request_id

    def _request(self, build: Callable[[int], tuple]) -> Future:
        future: Future = Future()
        request_id = self._register(future)
        if request_id is None:
            return future
        try:
            self._send(build(request_id))
        except StorageError as exc:
            with self._pending_lock:
                self._pending.pop(request_id, None)
            future.set_exception(exc)
        return future

    def _resolve_soon(self, answers: list[tuple[Future | asyncio.Future | None, bool, Any]]) -> None:
        """Resolve futures from the link thread: concurrent ones here, the event loop's in one callback."""
        on_loop = []
        for future, ok, payload in answers:
            if future is None:
                continue
            if isinstance(future, asyncio.Future):
                on_loop.append((future, ok, payload))
            elif ok:
                future.set_result(payload)
            else:
                future.set_exception(payload if isinstance(payload, BaseException) else _error_from(payload))
        if on_loop and self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(_resolve_on_loop, on_loop)

    def _send(self, message: tuple) -> None:
        try:
            with self._send_lock:
                self._conn.send(message)
        except (OSError, ValueError) as exc:
            raise StorageError(f"the relay's writer process is gone: {exc}") from None

    def _read(self) -> None:
        try:
            while True:
                message = self._conn.recv()
                kind = message[0]
                if kind == "appended":
                    if self.on_appended is not None:
                        self.on_appended(message[1], message[2])
                elif kind == "forget_device":
                    self.store.forget_device(message[1])
                elif kind == "answers":
                    with self._pending_lock:
                        answers = [(self._pending.pop(request_id, None), ok, payload)
                                   for request_id, ok, payload in message[1]]
                    self._resolve_soon(answers)
                elif kind == "stats":
                    with self._pending_lock:
                        future = self._pending.pop(message[1], None)
                    self._resolve_soon([(future, True, (message[2], message[3]))])
        except (EOFError, OSError, TypeError):
            pass  # the writer went away, or close() closed the connection under recv() (TypeError)
        with self._pending_lock:
            self._gone = True
            pending, self._pending = self._pending, {}
        gone = StorageError("the relay's writer process is gone")
        self._resolve_soon([(future, False, gone) for future in pending.values()])
        if self._exit_when_gone:
            log.error("the relay's writer process is gone: this worker stops")
            os.kill(os.getpid(), signal.SIGTERM)


def _resolve_on_loop(answers: list[tuple[asyncio.Future, bool, Any]]) -> None:
    for future, ok, payload in answers:
        if future.done():  # cancelled: the client went away
            continue
        if ok:
            future.set_result(payload)
        else:
            future.set_exception(payload if isinstance(payload, BaseException) else _error_from(payload))


__all__ = ["RemoteIngestor", "SequencerServer", "new_address"]
