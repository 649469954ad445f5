"""Live updates: a background thread keeps watched negotiations synced (full verification) and counts changes.

The browser holds one Server-Sent Events stream (``/events``); whenever a watched
negotiation's verified log grows, or its verification fails, the stream sends an
``update`` event and htmx re-fetches the panels of the page that show live data.

The relay is polled every ``interval`` seconds with ``Client.sync``; when the relay is
a real HTTP server (``stream=True``), a watcher thread also follows the relay's own
event stream (``Client.watch``) and wakes the poller at once.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from parley.client.sdk import Client, verify_log
from parley.client.workflow import Negotiation
from parley.errors import ParleyError, TransportError, VerificationError
from parley.protocol.times import format_time

log = logging.getLogger(__name__)


@dataclass
class Integrity:
    ok: bool
    message: str
    at: str
    full: bool  # True after a whole-log re-verification


class Live:
    """Sync loop, integrity record and change counter shared by every request of one UI."""

    def __init__(self, client: Client, lock: threading.RLock, *, interval: float = 1.0, stream: bool = False,
                 full_verify_every: float = 60.0) -> None:
        self.client = client
        self.lock = lock
        self.interval = interval
        self.stream = stream
        self.full_verify_every = full_verify_every
        self.sizes: dict[str, int] = {}
        self.integrity: dict[str, Integrity] = {}
        self.relay_error: str | None = None
        self.version = 0
        self._watched: dict[str, float] = {}  # negotiation -> time of the last full verification
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="parley-ui-live", daemon=True)
        self._watchers: dict[str, threading.Thread] = {}

    # ---- lifecycle ------------------------------------------------------------------------------
    def start(self) -> None:
        # Every negotiation of the local copy, not only those a page showed: what awaits the party anywhere
        # is notified (/awaiting.json) from these syncs.
        for negotiation_id in self.client.cache.negotiations():
            self.watch(negotiation_id)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)

    def watch(self, negotiation_id: str) -> None:
        """Keep this negotiation synced from now on (the first time: verify the whole log)."""
        if negotiation_id in self._watched:
            return
        self._watched[negotiation_id] = 0.0
        if self.stream and negotiation_id not in self._watchers:
            thread = threading.Thread(target=self._follow, args=(negotiation_id,), daemon=True,
                                      name=f"parley-ui-watch-{negotiation_id}")
            self._watchers[negotiation_id] = thread
            thread.start()
        self._wake.set()

    def _bump(self) -> None:
        self.version += 1

    # ---- integrity --------------------------------------------------------------------------------
    def failed(self, negotiation_id: str | None = None) -> list[tuple[str, Integrity]]:
        return [(nid, i) for nid, i in self.integrity.items() if not i.ok and negotiation_id in (None, nid)]

    def record_failure(self, negotiation_id: str, exc: VerificationError) -> None:
        """A verification failure is sticky for the life of this UI: the evidence does not go away."""
        self.integrity[negotiation_id] = Integrity(False, exc.message, _now(), True)
        self._bump()

    def full_verify(self, negotiation_id: str) -> Integrity:
        """Re-verify the whole log (``parley log verify``); records and returns the result."""
        self._watched[negotiation_id] = time.monotonic()
        with self.lock:
            try:
                summary = verify_log(self.client, negotiation_id)
            except VerificationError as exc:
                self.record_failure(negotiation_id, exc)
                return self.integrity[negotiation_id]
            except TransportError as exc:
                self.relay_error = exc.message
                self._bump()
                raise
        previous = self.integrity.get(negotiation_id)
        if previous is None or previous.ok:
            self.integrity[negotiation_id] = Integrity(True, f"{summary['events']} events verified", _now(), True)
        self._note_size(negotiation_id)
        return self.integrity[negotiation_id]

    # ---- the loop -----------------------------------------------------------------------------------
    def sync_once(self, negotiation_id: str) -> None:
        with self.lock:
            try:
                Negotiation(self.client, negotiation_id).sync()
                if self.relay_error is not None:
                    self.relay_error = None
                    self._bump()
            except VerificationError as exc:
                self.record_failure(negotiation_id, exc)
            except TransportError as exc:
                if self.relay_error != exc.message:
                    self.relay_error = exc.message
                    self._bump()
            except ParleyError as exc:  # e.g. a receipt refused: keep showing what verified
                if self.relay_error != exc.message:
                    self.relay_error = exc.message
                    self._bump()
            self._note_size(negotiation_id)

    def _note_size(self, negotiation_id: str) -> None:
        size = self.client.cache.last_seq(negotiation_id) + 1
        if self.sizes.get(negotiation_id) != size:
            self.sizes[negotiation_id] = size
            self._bump()

    def _run(self) -> None:
        while not self._stop.is_set():
            for negotiation_id, verified_at in list(self._watched.items()):
                if self._stop.is_set():
                    return
                try:
                    if time.monotonic() - verified_at > self.full_verify_every or not verified_at:
                        self.full_verify(negotiation_id)
                    else:
                        self.sync_once(negotiation_id)
                except ParleyError:
                    pass
                except Exception as exc:  # noqa: BLE001 - the loop must survive anything; say so on every page
                    log.exception("live sync of %s failed", negotiation_id)
                    self.relay_error = f"internal error while syncing: {exc!r}"
                    self._bump()
            self._wake.wait(self.interval)
            self._wake.clear()

    def _follow(self, negotiation_id: str) -> None:
        """Follow the relay's SSE stream; each announcement wakes the poller."""
        while not self._stop.is_set():
            try:
                for _ in self.client.watch(negotiation_id, deadline=time.monotonic() + 20):
                    self._wake.set()
                    if self._stop.is_set():
                        return
            except ParleyError:
                self._stop.wait(5)
            except Exception:  # noqa: BLE001 - a broken stream must not kill the UI; polling continues
                self._stop.wait(5)

    def snapshot(self) -> dict[str, Any]:
        return {"version": self.version, "sizes": dict(self.sizes),
                "failed": sorted(nid for nid, _ in self.failed()), "relay_error": self.relay_error}


def _now() -> str:
    return format_time(datetime.now(UTC))
