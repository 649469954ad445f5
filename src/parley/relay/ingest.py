"""Group commit: one writer thread validates and appends events in batches.

Posts queue up while the previous batch commits; the next batch takes them
all, validates each with the pure core against the negotiation's state,
appends leaves to the Merkle log (O(log n) stored nodes per leaf), signs one
checkpoint per negotiation touched, and commits once. An event is
acknowledged only after its batch committed, so an acknowledged event
survives a crash.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime

from parley.errors import ConflictError, NotFoundError, ParleyError, StorageError
from parley.protocol.events import Envelope
from parley.protocol.state import NegotiationState
from parley.protocol.times import format_time
from parley.settings import Limits
from parley.store.relay_store import NegotiationHead, RelayStore, StoredEvent, WriteTxn
from parley.tlog import merkle
from parley.tlog.checkpoint import Checkpoint, checkpoint_origin, sign_checkpoint
from parley.tlog.note import Signer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Accepted:
    negotiation_id: str
    seq: int
    event_id: str
    size: int
    checkpoint: str
    inclusion_proof: list[bytes]
    #: the event's row as committed (header and signature as stored, receiving time): lets the process that
    #: took the post keep the event's part of a page (``PageWriter.remember_posted``)
    stored: tuple[bytes, bytes, str]


@dataclass
class _Pending:
    envelope: Envelope
    create: bool
    future: Future
    verified_key: str | None = None


def envelope_from_stored(row: StoredEvent, limits: Limits) -> Envelope:
    import json

    from parley.protocol.events import Header

    header = Header.from_obj(json.loads(row.header), limits)
    blobs = tuple(row.ciphertexts.get(i) for i in range(len(header.ciphertexts)))
    return Envelope(header, row.signature, blobs)


class StateCache:
    """Negotiation states of one relay process, caught up from the committed log when stale.

    Every relay process keeps one: the writer (``Ingestor``) advances it as it appends, and a front
    process of a relay with several workers (``parley.relay.sequencer``) reads it to admit requests.
    """

    def __init__(self, store: RelayStore, limits: Limits) -> None:
        self.store = store
        self.limits = limits
        self._states: dict[str, NegotiationState] = {}
        self._states_lock = threading.Lock()
        # held while a negotiation state advances (writer batch, or a reader catching up)
        self._catchup_lock = threading.Lock()

    def cached_state(self, negotiation_id: str) -> NegotiationState | None:
        """The state this process last saw, without asking the database whether it is stale (it may be,
        when another relay process appended since). For checks the writer repeats authoritatively."""
        with self._states_lock:
            return self._states.get(negotiation_id)

    def admission(self, negotiation_id: str, party_id: str, device_key_id: str,
                  head: NegotiationHead | None = None) -> str:
        """``ADMITTED``, ``OUTSIDER`` or ``REMOVED``: may this device read the negotiation, by its current
        state, or by a state at least as new as ``head`` (a head the caller has just read: its page is then
        judged by a state that holds every event of the page). Raises: StorageError."""
        return admission_in(self.state(negotiation_id, head), party_id, device_key_id)

    def state(self, negotiation_id: str, head: NegotiationHead | None = None) -> NegotiationState | None:
        """The relay's current state of a negotiation (read-only use), loaded if needed; with ``head``, a
        state at least as new as that head (read from the database otherwise)."""
        with self._states_lock:
            cached = self._states.get(negotiation_id)
        head = head if head is not None else self.store.head(negotiation_id)
        if head is None:
            return None
        if cached is not None and cached.size >= head.size:
            return cached
        # Stale (another relay process appended) or missing: catch up from the database, applying only
        # the events after the cached state (not the whole log again). The writer thread holds the same
        # lock while it appends, so the cached state is never advanced by two threads at once.
        with self._catchup_lock:
            with self._states_lock:
                cached = self._states.get(negotiation_id)
            if cached is not None and cached.size >= head.size:
                return cached
            state = cached if cached is not None else NegotiationState(negotiation_id, self.limits)
            for row in self.store.committed_headers(negotiation_id, state.size - 1):
                state.accept(envelope_from_stored(row, self.limits), committed=True)
            with self._states_lock:
                self._states[negotiation_id] = state
        return state


#: what ``StateCache.admission`` says of a device: may use the negotiation, is not in it, was removed from it
ADMITTED, OUTSIDER, REMOVED = "admitted", "outsider", "removed"


def admission_in(state: NegotiationState | None, party_id: str, device_key_id: str) -> str:
    """Whether a device of ``party_id`` may read a negotiation in ``state`` (None: no such negotiation)."""
    if state is None:
        return OUTSIDER
    party = state.parties.get(party_id)
    if party is None or party.status == "left":
        return OUTSIDER
    if device_key_id in state.revoked:
        return REMOVED
    return ADMITTED


class Ingestor(StateCache):
    """Owns the relay's write path and its cache of negotiation states."""

    def __init__(self, store: RelayStore, signer: Signer, relay_name: str, limits: Limits,
                 clock: Callable[[], datetime], on_commit: Callable[[str, int], None] | None = None,
                 max_batch: int = 512) -> None:
        super().__init__(store, limits)
        self.signer = signer
        self.relay_name = relay_name
        self.clock = clock
        self.on_commit = on_commit
        #: called by the writer thread once every future of a batch is resolved (the sequencer sends the
        #: batch's answers to each worker in one message)
        self.after_batch: Callable[[], None] | None = None
        self.max_batch = max_batch
        self._queue: queue.Queue[_Pending | None] = queue.Queue()
        # negotiation -> (tree size, the perfect subtrees making up its root): every node a batch appended to a
        # tree of that size needs to read (see merkle.append_many). Only the writer thread touches it; nodes never
        # change once written, so a size that is not the head's (another process appended) only means a miss.
        self._frontiers: dict[str, tuple[int, dict[merkle.NodeKey, bytes]]] = {}
        # negotiation -> the parties last written to its negotiation_parties rows (writer thread only)
        self._recorded_parties: dict[str, frozenset[str]] = {}
        self._thread = threading.Thread(target=self._run, name="parley-ingest", daemon=True)
        self._thread.start()
        self.batches = 0
        self.events_accepted = 0

    # ---- public API ------------------------------------------------------------------------------
    def submit(self, envelope: Envelope, *, create: bool = False, verified_key: str | None = None,
               future: Future | None = None) -> Future:
        """Queue an event; the future resolves to ``Accepted`` or raises the ParleyError that refused it.
        ``verified_key``: the author's key a front process of this relay checked the signature with.
        ``future``: resolve this one (its callbacks then run in the writer thread, before ``after_batch``)."""
        future = future or Future()
        self._queue.put(_Pending(envelope, create, future, verified_key))
        return future

    @property
    def alive(self) -> bool:
        """The writer thread runs (for the relay's readiness check)."""
        return self._thread.is_alive()

    def device_revoked(self, device_key_id: str) -> None:
        """Nothing to tell in one process (several processes on PostgreSQL hear of it by NOTIFY)."""

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    # ---- writer thread -----------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)
                    break
                batch.append(item)
            self._process(batch)
            if self.after_batch is not None:
                self.after_batch()

    def _process(self, batch: list[_Pending]) -> None:
        groups: dict[str, list[_Pending]] = {}
        for item in batch:
            groups.setdefault(item.envelope.header.negotiation, []).append(item)
        results: dict[int, Accepted | ParleyError] = {}
        committed: list[tuple[str, int]] = []
        try:
            with self._catchup_lock, self.store.write() as txn:
                for negotiation_id, items in groups.items():
                    size = self._append_group(txn, negotiation_id, items, results)
                    if size is not None:
                        committed.append((negotiation_id, size))
                # PostgreSQL delivers these at commit to every relay process listening (live streams).
                txn.notify_appended([negotiation_id for negotiation_id, _ in committed])
        except Exception as exc:  # the whole transaction rolled back: nothing of this batch is stored
            with self._states_lock:
                for negotiation_id in groups:
                    self._states.pop(negotiation_id, None)
                    self._frontiers.pop(negotiation_id, None)
                    self._recorded_parties.pop(negotiation_id, None)
            error = exc if isinstance(exc, ParleyError) else StorageError(f"relay storage failed: {exc}")
            if not isinstance(exc, ParleyError):
                log.exception("ingest batch failed")
            for item in batch:
                item.future.set_exception(error)
            return
        self.batches += 1
        for item in batch:
            outcome = results[id(item)]
            if isinstance(outcome, Accepted):
                self.events_accepted += 1
                item.future.set_result(outcome)
            else:
                item.future.set_exception(outcome)
        if self.on_commit is not None:
            for negotiation_id, size in committed:
                self.on_commit(negotiation_id, size)

    def _append_group(self, txn: WriteTxn, negotiation_id: str, items: list[_Pending],
                      results: dict[int, Accepted | ParleyError]) -> int | None:
        now = self.clock()
        head = txn.lock_head(negotiation_id)
        creating = [i for i in items if i.create]
        if head is None:
            if not creating:
                for item in items:
                    results[id(item)] = NotFoundError("no such negotiation")
                return None
            txn.create_negotiation(negotiation_id, format_time(now))
            state = NegotiationState(negotiation_id, self.limits)
            with self._states_lock:
                self._states[negotiation_id] = state
            size = 0
        else:
            size = head.size
            state = self._caught_up_state(txn, negotiation_id, size)
        start = size
        received_at = format_time(now)
        rows, blobs, readers, leaf_hashes, accepted_items, public_rows = [], [], [], [], [], []
        for item in items:
            if item.create and (head is not None or item is not creating[0]):
                results[id(item)] = ConflictError("a negotiation with this id already exists")
                continue
            envelope = item.envelope
            try:
                state.accept(envelope, now=now, verified_key=item.verified_key)
            except ParleyError as exc:
                results[id(item)] = exc
                continue
            seq = size
            size += 1
            leaf = merkle.leaf_hash(envelope.leaf_bytes())
            rows.append({"seq": seq, "event_id": envelope.event_id, "header": envelope.header_bytes,
                         "signature": envelope.signature, "received_at": received_at, "leaf_hash": leaf})
            for idx, (blob, ref) in enumerate(zip(envelope.ciphertexts, envelope.header.ciphertexts, strict=True)):
                blobs.append({"seq": seq, "idx": idx, "blob": blob})
                readers.extend({"device_key_id": r, "seq": seq, "idx": idx} for r in ref.recipients)
            leaf_hashes.append(leaf)
            accepted_items.append((item, seq, envelope.event_id))
            public = _public_record(negotiation_id, seq, envelope, received_at)
            if public is not None:
                public_rows.append(public)
        if not accepted_items:
            return None
        stored = txn.insert_events(negotiation_id, rows, blobs, readers)
        parties = frozenset(state.parties)
        if self._recorded_parties.get(negotiation_id) != parties:  # a query per batch saved when unchanged
            txn.add_negotiation_parties(negotiation_id, sorted(parties))
            self._recorded_parties[negotiation_id] = parties
        txn.add_public_records(public_rows)
        frontier_size, frontier = self._frontiers.pop(negotiation_id, (-1, {}))
        reader = _Overlay([], txn.node_reader(negotiation_id), frontier if frontier_size == start else {})
        new_nodes = merkle.append_many(start, leaf_hashes, reader)
        txn.put_nodes(negotiation_id, new_nodes)
        overlay = _Overlay(new_nodes, reader)
        root = merkle.root_from_nodes(size, overlay)
        note = sign_checkpoint(Checkpoint(checkpoint_origin(self.relay_name, negotiation_id), size, root), self.signer)
        txn.set_head(negotiation_id, size, root, note)
        # Every proof of this group from one read, each shared subtree hashed once.
        proofs = merkle.inclusion_proofs([seq for _, seq, _ in accepted_items], size, overlay)
        for (item, seq, event_id), proof in zip(accepted_items, proofs, strict=True):
            results[id(item)] = Accepted(negotiation_id, seq, event_id, size, note, proof, (*stored[seq], received_at))
        # Kept for the next batch; dropped with the states if this transaction does not commit.
        self._frontiers[negotiation_id] = (size, dict(overlay.get_nodes(merkle.nodes_for_root(size))))
        return size

    def _caught_up_state(self, txn: WriteTxn, negotiation_id: str, size: int) -> NegotiationState:
        with self._states_lock:
            state = self._states.get(negotiation_id)
        if state is None or state.size > size:
            state = NegotiationState(negotiation_id, self.limits)
        if state.size < size:
            # Rows a relay process checked in full before committing them: the rules are applied again,
            # not the signatures and digests (see NegotiationState.accept).
            for row in txn.events_after(negotiation_id, state.size - 1, ciphertexts=False):
                state.accept(envelope_from_stored(row, self.limits), committed=True)
        with self._states_lock:
            self._states[negotiation_id] = state
        return state


def _public_record(negotiation_id: str, seq: int, envelope: Envelope, now: str) -> dict | None:
    """Released agreements and public statements are indexed for the unauthenticated /public pages."""
    import json

    kind = envelope.header.public_type
    if kind == "agreement.publication":
        content = envelope.header.public["content"]
        return {"kind": "agreement", "record_id": content["agreement_id"], "negotiation_id": negotiation_id,
                "seq": seq, "content": json.dumps(content, ensure_ascii=False), "created_at": now}
    if kind == "statement.public":
        return {"kind": "statement", "record_id": envelope.event_id, "negotiation_id": negotiation_id, "seq": seq,
                "content": json.dumps({**envelope.header.public["content"], "created": envelope.header.created},
                                      ensure_ascii=False), "created_at": now}
    return None


class _Overlay:
    """Nodes written in this transaction (or remembered from the last one) first, then the database."""

    def __init__(self, nodes: list[tuple[int, int, bytes]], reader: merkle.NodeReader,
                 known: dict[merkle.NodeKey, bytes] | None = None) -> None:
        self.nodes = dict(known or {})
        self.nodes.update(((level, idx), digest) for level, idx, digest in nodes)
        self.reader = reader

    def get_nodes(self, keys):  # noqa: ANN001, ANN201
        found = {k: self.nodes[k] for k in keys if k in self.nodes}
        missing = [k for k in keys if k not in found]
        if missing:
            found.update(self.reader.get_nodes(missing))
        return found
