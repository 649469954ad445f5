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

A version 2 encrypted event goes to a member whose party is outside its audience as ``{"seq", "hidden":
{"event", "nonce", "tags"}}``: its Merkle leaf, all such a member needs to verify the log (docs/security.md).
"""

from __future__ import annotations

import hashlib
import threading
import time
from binascii import b2a_base64
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import orjson

from parley.errors import StorageError
from parley.protocol.events import hidden_leaf_bytes
from parley.store import codec, pages
from parley.store.relay_store import NegotiationHead, RelayStore

__all__ = ["Page", "PageWriter", "read_page", "server_timing"]


class _Written(NamedTuple):
    """The reader-independent part of one event in a page."""

    #: the stored header, signature and receiving time it was written from
    stored: tuple[bytes, bytes, str]
    #: the event's JSON up to its ciphertext list
    prefix: bytes
    #: its number of ciphertexts
    count: int
    #: the whole entry as a member outside its audience receives it (a version 2 encrypted event), else None
    hidden: bytes | None
    #: the parties of its audience (for ``hidden``)
    parties: frozenset[str]
    #: bytes it takes in the cache
    cost: int


class PageWriter:
    """Writes pages of events as JSON bytes, keeping the reader-independent part of recent events.

    Thread-safe: listings run in worker threads.
    """

    def __init__(self, max_cache_bytes: int) -> None:
        self.max_cache_bytes = max_cache_bytes
        self._cache: OrderedDict[tuple[str, int], _Written] = OrderedDict()
        self._cache_bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def page(self, negotiation_id: str, size: int, checkpoint: str, rows: list[pages.EventRow],
             blobs: Mapping[int, Mapping[int, bytes]], reader_party: str | None = None) -> bytes:
        """The page answer for ``rows`` (stored form, as ``RelayStore.packed_page`` hands them over) with the
        ciphertexts ``blobs`` (by seq and index) the caller may fetch. An encrypted event whose audience leaves
        out ``reader_party`` is written as its hidden entry (``{"seq", "hidden"}``: no header, no ciphertext
        list); with ``reader_party`` None every event is written whole.

        Raises:
            StorageError: a stored header is damaged.
        """
        written = self._written(negotiation_id, rows)
        parts = [b'{"negotiation_id":', orjson.dumps(negotiation_id), b',"size":', str(size).encode(),
                 b',"checkpoint":', orjson.dumps(checkpoint), b',"events":[']
        append = parts.append
        no_blobs: Mapping[int, bytes] = {}
        for position, (row, entry) in enumerate(zip(rows, written, strict=True)):
            if position:
                append(b",")
            if entry.hidden is not None and reader_party is not None and reader_party not in entry.parties:
                append(entry.hidden)
                continue
            readable = blobs.get(row.seq, no_blobs)
            count = entry.count
            append(entry.prefix)
            if count == 1 and 0 in readable:  # the usual event: one ciphertext for every reader
                append(b'"' + b2a_base64(readable[0], newline=False) + b'"]}}')
                continue
            append(b",".join(b'"' + b2a_base64(readable[i], newline=False) + b'"' if i in readable else b"null"
                             for i in range(count)))
            append(b"]}}")
        parts.append(b"]}")
        return b"".join(parts)

    def hidden_from(self, negotiation_id: str, rows: list[pages.EventRow], party: str) -> set[int]:
        """The positions of ``rows`` a member of ``party`` receives as hidden entries.

        Raises:
            StorageError: a stored header is damaged.
        """
        return {row.seq for row, entry in zip(rows, self._written(negotiation_id, rows), strict=True)
                if entry.hidden is not None and party not in entry.parties}

    def _written(self, negotiation_id: str, rows: list[pages.EventRow]) -> list[_Written]:
        """The reader-independent part of each row: from the cache where the row holds the bytes an entry was
        made from, written out otherwise."""
        found: list[_Written | None] = []
        with self._lock:  # one lock round for the page, not one per event
            cache = self._cache
            for row in rows:
                key = (negotiation_id, row.seq)
                entry = cache.get(key)
                if entry is not None and entry.stored == (row.header, row.signature, row.received_at):
                    cache.move_to_end(key)
                    found.append(entry)
                else:
                    found.append(None)
            self.hits += sum(1 for item in found if item is not None)
        missing = [(i, row) for i, (row, item) in enumerate(zip(rows, found, strict=True)) if item is None]
        if not missing:
            return found  # type: ignore[return-value]
        written = [(i, row, self._write(row)) for i, row in missing]
        with self._lock:
            self.misses += len(written)
            for i, row, entry in written:
                found[i] = entry
                self._remember((negotiation_id, row.seq), entry)
        return found  # type: ignore[return-value]

    @staticmethod
    def _write(row: pages.EventRow) -> _Written:
        # Straight from the stored columns: the page shows no event id, so none is unpacked.
        header = codec.unpack_header(row.header)
        signature = codec.unpack_signature(row.signature)
        return _entry(row.seq, (row.header, row.signature, row.received_at), header, signature)

    def remember_posted(self, negotiation_id: str, seq: int, stored: tuple[bytes, bytes, str], header: bytes,
                        signature: str, ciphertexts: int) -> None:
        """Keep the page part of an event this process has just had committed, so that its first listing
        finds it: ``stored`` is its row as committed (header and signature as stored, receiving time),
        ``header`` and ``signature`` what they were packed from (the canonical header bytes and the
        signature's base64), ``ciphertexts`` how many it has. The entry is checked against the row, like
        any other, whenever a page uses it."""
        entry = _entry(seq, stored, header, signature)
        with self._lock:
            self._remember((negotiation_id, seq), entry)

    def _remember(self, key: tuple[str, int], entry: _Written) -> None:
        """Under the lock: keep an entry, dropping the least recently used ones beyond the bound."""
        previous = self._cache.pop(key, None)
        if previous is not None:
            self._cache_bytes -= previous.cost
        if entry.cost > self.max_cache_bytes:
            return
        self._cache[key] = entry
        self._cache_bytes += entry.cost
        while self._cache_bytes > self.max_cache_bytes:
            _, dropped = self._cache.popitem(last=False)
            self._cache_bytes -= dropped.cost

    @property
    def cached_bytes(self) -> int:
        return self._cache_bytes


def _entry(seq: int, stored: tuple[bytes, bytes, str], header: bytes, signature: str) -> _Written:
    """The page parts of one event from its canonical header bytes and signature.

    Raises:
        StorageError: the header is damaged.
    """
    try:
        fields = orjson.loads(header)
        count = len(fields["ciphertexts"])
        hidden = None
        parties: frozenset[str] = frozenset()
        if fields.get("tags") is not None:
            hidden = b'{"seq":%d,"hidden":%b}' % (seq, hidden_leaf_bytes(
                hashlib.sha256(header).hexdigest(), fields["nonce"], tuple(fields["tags"])))
            parties = frozenset(fields["audience"]["parties"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        raise StorageError(f"the stored header of event {seq} is damaged") from None
    prefix = _event_prefix(seq, stored[2], header, signature)
    cost = len(prefix) + len(stored[0]) + len(stored[1]) + (len(hidden) if hidden else 0)
    return _Written(stored, prefix, count, hidden, parties, cost)


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
              log_access_at: str, nonce: tuple[str, str, int] | None = None, max_bytes: int | None = None,
              reader_party: str | None = None) -> Page:
    """One listing for ``reader`` (a device of ``reader_party``: events whose audience leaves that party out are
    written as hidden entries), cut at ``head`` (the negotiation's head as the caller read it): the rows
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
        body = writer.page(negotiation_id, head.size, head.checkpoint, shown, blobs, reader_party)
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
