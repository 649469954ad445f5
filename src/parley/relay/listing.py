"""Pages of events, written as the JSON bytes the relay answers with.

A page of 1,000 events is about 3 MB and the relay's heaviest answer. Most of an event's part of it is
the same for every reader: its sequence number, the time it was received, its signed header and its
signature; only the list of ciphertexts depends on who asks. Every member of a negotiation fetches the
same new events, so each relay process keeps that reader-independent part of recent events, written out
once, in a cache bounded in bytes (``Limits.max_page_cache_bytes``). What it saves is the unpacking and
the writing, not the read: each entry remembers the stored bytes it was written from and is used only if
the row read now holds the same bytes, so a page always shows what the database holds (a relay's log never
changes once committed; a database edited behind the relay's back is served as edited, and caught by
every client as such).

The bytes are exactly what ``orjson.dumps`` wrote for the page as a dict before (``tests/relay`` holds
them to it): ``{"negotiation_id", "size", "checkpoint", "events": [{"seq", "received_at", "event":
{"header", "signature", "ciphertexts"}}]}``, the stored canonical header spliced in as is.
"""

from __future__ import annotations

import base64
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

import orjson

from parley.errors import NotFoundError, StorageError
from parley.store import pages
from parley.store.relay_store import RelayStore, unpack_event

__all__ = ["Page", "PageWriter", "read_page"]


class PageWriter:
    """Writes pages of events as JSON bytes, keeping the reader-independent part of recent events.

    Thread-safe: listings run in worker threads.
    """

    def __init__(self, max_cache_bytes: int) -> None:
        self.max_cache_bytes = max_cache_bytes
        # (negotiation id, seq) -> (the stored header, signature and receiving time it was written from, the
        # event's JSON up to its ciphertext list, its number of ciphertexts, bytes it takes here)
        self._cache: OrderedDict[tuple[str, int], tuple[tuple[bytes, bytes, str], bytes, int, int]] = OrderedDict()
        self._cache_bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def page(self, negotiation_id: str, size: int, checkpoint: str, rows: list[pages.EventRow],
             blobs: Mapping[int, Mapping[int, bytes]]) -> bytes:
        """The page answer for ``rows`` (stored form, as ``RelayStore.packed_page`` hands them over) with the
        ciphertexts ``blobs`` (by seq and index) the caller may fetch.

        Raises:
            StorageError: a stored header is damaged.
        """
        parts = [b'{"negotiation_id":', orjson.dumps(negotiation_id), b',"size":', str(size).encode(),
                 b',"checkpoint":', orjson.dumps(checkpoint), b',"events":[']
        for position, row in enumerate(rows):
            prefix, count = self._prefix(negotiation_id, row)
            readable = blobs.get(row.seq, {})
            if position:
                parts.append(b",")
            parts.append(prefix)
            parts.append(b",".join(b'"' + base64.b64encode(readable[i]) + b'"' if i in readable else b"null"
                                   for i in range(count)))
            parts.append(b"]}}")
        parts.append(b"]}")
        return b"".join(parts)

    def _prefix(self, negotiation_id: str, row: pages.EventRow) -> tuple[bytes, int]:
        key = (negotiation_id, row.seq)
        stored = (row.header, row.signature, row.received_at)
        with self._lock:
            found = self._cache.get(key)
            if found is not None and found[0] == stored:
                self._cache.move_to_end(key)
                self.hits += 1
                return found[1], found[2]
        event = unpack_event(row, {})
        try:
            count = len(orjson.loads(event.header)["ciphertexts"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise StorageError(f"the stored header of event {row.seq} is damaged") from None
        prefix = (b'{"seq":' + str(event.seq).encode() + b',"received_at":' + orjson.dumps(event.received_at)
                  + b',"event":{"header":' + event.header + b',"signature":' + orjson.dumps(event.signature)
                  + b',"ciphertexts":[')
        cost = len(prefix) + len(row.header) + len(row.signature)
        with self._lock:
            self.misses += 1
            previous = self._cache.pop(key, None)
            if previous is not None:
                self._cache_bytes -= previous[3]
            if cost <= self.max_cache_bytes:
                self._cache[key] = (stored, prefix, count, cost)
                self._cache_bytes += cost
                while self._cache_bytes > self.max_cache_bytes:
                    _, dropped = self._cache.popitem(last=False)
                    self._cache_bytes -= dropped[3]
        return prefix, count

    @property
    def cached_bytes(self) -> int:
        return self._cache_bytes


@dataclass(frozen=True)
class Page:
    body: bytes
    #: seq of the page's last event, None for an empty page
    last_seq: int | None


def read_page(store: RelayStore, writer: PageWriter, negotiation_id: str, after: int, limit: int, reader: str,
              log_access_at: str, nonce: tuple[str, str, int] | None = None) -> Page:
    """One listing for ``reader``: the head, then the rows below it (at most ``limit``) written as the page's
    bytes, then their access-log rows and the request's ``nonce`` in one commit.

    Raises:
        NotFoundError: no such negotiation.
        ReplayError: the nonce was stored before.
        StorageError: the database failed or a stored header is damaged.
    """
    head = store.head(negotiation_id)
    if head is None:
        raise NotFoundError("no such negotiation")
    def render(rows: list[pages.EventRow], blobs: Mapping[int, Mapping[int, bytes]]) -> Page:
        rows = [r for r in rows if r.seq < head.size]
        return Page(writer.page(negotiation_id, head.size, head.checkpoint, rows, blobs),
                    rows[-1].seq if rows else None)

    # Written before the access log and the nonce are committed: a page that cannot be written is not logged.
    return store.packed_page(negotiation_id, after, limit, reader, render, log_access_at, nonce)
