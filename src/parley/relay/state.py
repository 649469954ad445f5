"""``Relay``: what every route of a relay process needs (storage, the writer, the checkpoint key,
limits, the clock, counters, live-stream waiters)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

from parley.errors import StorageError
from parley.relay.auth import NonceCache
from parley.relay.ingest import Ingestor
from parley.relay.limits import RateLimiter
from parley.relay.listen import NotifyListener
from parley.relay.listing import PageWriter
from parley.relay.metrics import RelayMetrics
from parley.relay.sequencer import RemoteIngestor
from parley.settings import DEFAULT_LIMITS, Limits
from parley.store.relay_store import RelayStore
from parley.store.revisions import schema_problem
from parley.tlog.note import Signer


class Relay:
    """Everything a route needs: storage, the writer, the checkpoint key, limits and the clock."""

    def __init__(self, store: RelayStore, signer: Signer, name: str, limits: Limits = DEFAULT_LIMITS,
                 clock: Callable[[], datetime] | None = None, writer: tuple[str, bytes] | None = None, *,
                 metrics_token: str | None = None) -> None:
        """``writer``: the (address, key) of the writer process when this is one of several workers
        (``parley.relay.sequencer``); by default this process writes itself. ``metrics_token``: the bearer
        token ``/metrics`` asks for; without one ``/metrics`` is not served."""
        self.store = store
        self.signer = signer
        self.name = name
        self.limits = limits
        self.clock = clock or (lambda: datetime.now(UTC))
        self.nonces = NonceCache()
        self.metrics_token = metrics_token
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: dict[str, asyncio.Event] = {}
        self._streams: Counter[str] = Counter()
        self.rate_limiter = RateLimiter(limits.rate_per_device, limits.rate_burst)
        self.pages = PageWriter(limits.max_page_cache_bytes)
        self.ingestor: Ingestor | RemoteIngestor
        if writer is None:
            self.ingestor = Ingestor(store, signer, name, limits, self.clock, on_commit=self._committed)
        else:
            self.ingestor = RemoteIngestor(store, limits, *writer, on_appended=self._committed)
        # Several relay processes on one PostgreSQL: appends and revocations of the others arrive by
        # LISTEN/NOTIFY (see parley.relay.listen).
        self._listener = NotifyListener(store, self._committed) if store.dialect == "postgresql" else None
        self.metrics = RelayMetrics(lambda: (self.ingestor.events_accepted, self.ingestor.batches))

    # live updates: the writer thread (or the NOTIFY listener) wakes stream handlers on the event loop
    def _committed(self, negotiation_id: str | None, size: int = 0) -> None:
        """``negotiation_id=None`` wakes every stream (after missed notifications)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            if negotiation_id is None:
                loop.call_soon_threadsafe(self._wake_all)
            else:
                loop.call_soon_threadsafe(self._wake, negotiation_id)

    def _wake_all(self) -> None:
        for negotiation_id in list(self._waiters):
            self._wake(negotiation_id)

    def _wake(self, negotiation_id: str) -> None:
        waiter = self._waiters.pop(negotiation_id, None)
        if waiter is not None:
            waiter.set()

    def waiter(self, negotiation_id: str) -> asyncio.Event:
        if negotiation_id not in self._waiters:
            self._waiters[negotiation_id] = asyncio.Event()
        return self._waiters[negotiation_id]

    def readiness(self) -> dict[str, str]:
        """What ``/readyz`` reports (blocking): ``"ok"`` or why not, for the database (reachable, its
        schema the one this code needs), the writer (its thread, or the link to the writer process) and, on
        PostgreSQL, the LISTEN connection. Never a URL, a password or a row."""
        checks: dict[str, str] = {}
        try:
            checks["database"] = schema_problem(self.store.schema_revision()) or "ok"
        except StorageError as exc:
            checks["database"] = exc.message
        checks["writer"] = "ok" if self.ingestor.alive else "the writer has stopped"
        if self._listener is not None:
            checks["listen"] = "ok" if self._listener.alive else "the LISTEN connection is down (reconnecting)"
        return checks

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
        self.ingestor.close()
        self.store.close()
