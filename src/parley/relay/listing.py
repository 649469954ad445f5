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

import threading
import time
from binascii import b2a_base64
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field

import orjson

from parley.errors import StorageError
from parley.store import codec, pages
from parley.store.relay_store import NegotiationHead, RelayStore

__all__ = ["Page", "PageWriter", "read_page", "server_timing"]


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
        prefixes = self._prefixes(negotiation_id, rows)
        parts = [b'{"negotiation_id":', orjson.dumps(negotiation_id), b',"size":', str(size).encode(),
                 b',"checkpoint":', orjson.dumps(checkpoint), b',"events":[']
        append = parts.append
        no_blobs: Mapping[int, bytes] = {}
        for position, (row, (prefix, count)) in enumerate(zip(rows, prefixes, strict=True)):
            readable = blobs.get(row.seq, no_blobs)
            if position:
                append(b",")
            append(prefix)
            if count == 1 and 0 in readable:  # the usual event: one ciphertext for every reader
                append(b'"' + b2a_base64(readable[0], newline=False) + b'"]}}')
                continue
            append(b",".join(b'"' + b2a_base64(readable[i], newline=False) + b'"' if i in readable else b"null"
                             for i in range(count)))
            append(b"]}}")
        parts.append(b"]}")
        return b"".join(parts)

    def _prefixes(self, negotiation_id: str, rows: list[pages.EventRow]) -> list[tuple[bytes, int]]:
        """(the event's JSON up to its ciphertext list, its number of ciphertexts) for each row: from the cache
        where the row holds the bytes an entry was made from, written out otherwise."""
        found: list[tuple[bytes, int] | None] = []
        with self._lock:  # one lock round for the page, not one per event
            cache = self._cache
            for row in rows:
                key = (negotiation_id, row.seq)
                entry = cache.get(key)
                if entry is not None and entry[0] == (row.header, row.signature, row.received_at):
                    cache.move_to_end(key)
                    found.append((entry[1], entry[2]))
                else:
                    found.append(None)
            self.hits += sum(1 for item in found if item is not None)
        missing = [(i, row) for i, (row, item) in enumerate(zip(rows, found, strict=True)) if item is None]
        if not missing:
            return found  # type: ignore[return-value]
        written = [(i, row, *self._write_prefix(row)) for i, row in missing]
        with self._lock:
            self.misses += len(written)
            for i, row, prefix, count in written:
                found[i] = (prefix, count)
                self._remember((negotiation_id, row.seq), (row.header, row.signature, row.received_at), prefix,
                               count)
        return found  # type: ignore[return-value]

    @staticmethod
    def _write_prefix(row: pages.EventRow) -> tuple[bytes, int]:
        # Straight from the stored columns: the page shows no event id, so none is unpacked.
        header = codec.unpack_header(row.header)
        try:
            count = len(orjson.loads(header)["ciphertexts"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise StorageError(f"the stored header of event {row.seq} is damaged") from None
        return _event_prefix(row.seq, row.received_at, header, codec.unpack_signature(row.signature)), count

    def remember_posted(self, negotiation_id: str, seq: int, stored: tuple[bytes, bytes, str], header: bytes,
                        signature: str, ciphertexts: int) -> None:
        """Keep the page part of an event this process has just had committed, so that its first listing
        finds it: ``stored`` is its row as committed (header and signature as stored, receiving time),
        ``header`` and ``signature`` what they were packed from (the canonical header bytes and the
        signature's base64), ``ciphertexts`` how many it has. The entry is checked against the row, like
        any other, whenever a page uses it."""
        prefix = _event_prefix(seq, stored[2], header, signature)
        with self._lock:
            self._remember((negotiation_id, seq), stored, prefix, ciphertexts)

    def _remember(self, key: tuple[str, int], stored: tuple[bytes, bytes, str], prefix: bytes, count: int) -> None:
        """Under the lock: keep an entry, dropping the least recently used ones beyond the bound."""
        cost = len(prefix) + len(stored[0]) + len(stored[1])
        previous = self._cache.pop(key, None)
        if previous is not None:
            self._cache_bytes -= previous[3]
        if cost > self.max_cache_bytes:
            return
        self._cache[key] = (stored, prefix, count, cost)
        self._cache_bytes += cost
        while self._cache_bytes > self.max_cache_bytes:
            _, dropped = self._cache.popitem(last=False)
            self._cache_bytes -= dropped[3]

    @property
    def cached_bytes(self) -> int:
        return self._cache_bytes


def _event_prefix(seq: int, received_at: str, header: bytes, signature: str) -> bytes:
    """An event's JSON in a page up to its list of ciphertexts: the part that is the same for every reader."""
    return b'{"seq":%d,"received_at":%b,"event":{"header":%b,"signature":%b,"ciphertexts":[' % (
        seq, orjson.dumps(received_at), header, orjson.dumps(signature))


@dataclass(frozen=True)
class Page:
    body: bytes
    #: seq of the page's last event, None for an empty page
    last_seq: int | None
    #: milliseconds spent reading the rows ("read"), writing the page ("render") and committing its access
    #: log and nonce ("log"): what the relay answers in its Server-Timing header
    timings: dict[str, float] = field(default_factory=dict)


def read_page(store: RelayStore, writer: PageWriter, head: NegotiationHead, after: int, limit: int, reader: str,
              log_access_at: str, nonce: tuple[str, str, int] | None = None, max_bytes: int | None = None) -> Page:
    """One listing for ``reader``, cut at ``head`` (the negotiation's head as the caller read it): the rows
    below it (at most ``limit``, and with ``max_bytes`` no more than fit in that many bytes of headers and
    ciphertexts, the first always in) written as the page's bytes, then their access-log rows and the
    request's ``nonce`` in one commit.

    Raises:
        ReplayError: the nonce was stored before.
        StorageError: the database failed or a stored header is damaged.
    """
    negotiation_id = head.negotiation_id
    started = time.perf_counter()
    marks: list[float] = []

    def render(rows: list[pages.EventRow], blobs: Mapping[int, Mapping[int, bytes]]) -> tuple[bytes, int | None]:
        marks.append(time.perf_counter())
        shown = [r for r in rows if r.seq < head.size]
        body = writer.page(negotiation_id, head.size, head.checkpoint, shown, blobs)
        marks.append(time.perf_counter())
        return body, shown[-1].seq if shown else None

    # Written before the access log and the nonce are committed: a page that cannot be written is not logged.
    body, last_seq = store.packed_page(negotiation_id, after, limit, reader, render, log_access_at, nonce,
                                       max_bytes=max_bytes)
    done = time.perf_counter()
    return Page(body, last_seq, {"read": (marks[0] - started) * 1000, "render": (marks[1] - marks[0]) * 1000,
                                 "log": (done - marks[1]) * 1000})


def server_timing(timings: Mapping[str, float]) -> str:
    """A ``Server-Timing`` header value (W3C Server Timing) of ``timings`` in milliseconds."""
    return ", ".join(f"{name};dur={value:.1f}" for name, value in timings.items())
