"""The PostgreSQL LISTEN thread of a relay process.

Several relay processes on one PostgreSQL database learn of each other's appends and revocations by
LISTEN/NOTIFY: the writer of any process sends ``NOTIFY parley_events, '<negotiation id>'`` inside each
batch's transaction (delivered at commit) and ``NOTIFY parley_devices, '<device key id>'`` with a revocation.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from parley.store.relay_store import RelayStore

log = logging.getLogger(__name__)


class NotifyListener:
    """A thread holding one PostgreSQL connection that LISTENs on ``parley_events`` (payload: a
    negotiation id) and ``parley_devices`` (a revoked device key id). Reconnects after a failure, then
    wakes every stream and drops every cached device row, since notifications may have been missed
    meanwhile.

    ``on_appended(negotiation_id)`` is called from this thread; ``None`` means "wake every stream".
    """

    CHANNELS = ("parley_events", "parley_devices")

    def __init__(self, store: RelayStore, on_appended: Callable[[str | None], None]) -> None:
        self.store = store
        self.on_appended = on_appended
        self._stop = threading.Event()
        self._conninfo = store.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        #: set once the first LISTEN connection is up (and after every reconnection)
        self.ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="parley-listen", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        """The thread runs and holds a LISTEN connection."""
        return self._thread.is_alive() and self.ready.is_set()

    def _run(self) -> None:
        import psycopg

        backoff = 0.5
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5) as conn:
                    for channel in self.CHANNELS:
                        conn.execute(f"LISTEN {channel}")
                    self.store.forget_device()
                    self.on_appended(None)
                    self.ready.set()
                    backoff = 0.5
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=0.5):
                            if note.channel == "parley_events":
                                self.on_appended(note.payload)
                            elif note.channel == "parley_devices":
                                self.store.forget_device(note.payload)
            except Exception:  # noqa: BLE001 - keep listening whatever the database did
                self.ready.clear()
                if self._stop.is_set():
                    return
                log.warning("LISTEN connection lost; reconnecting", exc_info=True)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
