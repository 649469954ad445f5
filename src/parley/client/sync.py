"""Sync and re-verification: fetch from the relay, feed the pure ``VerifiedLog``, persist what it verified.

The rules live in ``parley.protocol.verified_log``; this module is the I/O around them (the counterpart of
python-tuf's ngclient updater around its ``TrustedMetadataSet``):

- ``load`` builds the verified log from the local cache as it is *now*: another process on the same
  profile may have stored newer events since this one last looked, and the cache is the truth;
- ``feed`` is the one page loop: a listing carries the signed checkpoint and, asked with
  ``consistency_from``, the consistency proof from the pinned size, then pages of events until the
  checkpoint is covered; each page's events are stored as soon as they pass the protocol rules (their
  bodies opened, written, then dropped: a sync of a large attachment's chunks holds one page at a time,
  the relay bounding a page in bytes), inside one cache transaction that only commits once the whole
  step has been verified against the signed checkpoint, and is rolled back if anything fails, a later
  page included;
- ``persist`` opens the bodies this device may read and stores a batch, its tree nodes, the new
  checkpoint and the gossip still ahead of the log in one transaction.

``sync`` grows the pinned log; ``verify`` re-checks everything from scratch (the local copy, then the
relay's whole log against it).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from parley.crypto.audience_tags import addressed_to
from parley.errors import ForkError, VerificationError
from parley.progress import report
from parley.protocol.events import Envelope, HiddenEvent
from parley.protocol.state import NegotiationState
from parley.protocol.verified_log import (
    Acknowledgement,
    Addressed,
    VerifiedBatch,
    VerifiedEvent,
    VerifiedLog,
    served_entry,
)
from parley.tlog.checkpoint import Checkpoint

if TYPE_CHECKING:
    from parley.client.cache import SyncWriter
    from parley.client.sdk import Client


@dataclass(frozen=True)
class Posted:
    """An event of this device the relay appended: its position, id and the log size after it."""

    seq: int
    event_id: str
    size: int


@dataclass(frozen=True)
class SyncResult:
    negotiation_id: str
    new_events: int
    size: int
    root: bytes
    checkpoint: str


def load(client: Client, negotiation_id: str) -> VerifiedLog:
    """The verified log as this profile's cache holds it now (pinned checkpoint, stored tree, state, gossip).

    Raises:
        VerificationError: the cache's events and checkpoint disagree.
        ConfigError: the profile has not pinned the relay's key.
    """
    origin = client.origin(negotiation_id)
    pinned = client.cache.checkpoint(negotiation_id)
    state = client.state(negotiation_id)  # caught up with what other processes stored
    if state.size != (0 if pinned is None else pinned[0]):
        raise VerificationError("local cache is inconsistent with its checkpoint; re-create the profile cache")
    return VerifiedLog(
        negotiation_id, verifier=client.relay_verifier(), origin=origin, own_device=client.identity.device_key_id,
        pinned=None if pinned is None else (Checkpoint(origin, pinned[0], pinned[1]), pinned[2]),
        nodes=client.cache.node_reader(negotiation_id), state=state, gossip=client.cache.gossip(negotiation_id),
        limits=client.limits, addressed=addressed_check(client))


def addressed_check(client: Client) -> Addressed:
    """Whether a hidden entry's audience tags name this device as a reader of one of the negotiation's members
    (``parley.crypto.audience_tags``): then the relay withheld from it an event addressed to it."""
    identity = client.identity.encryption.identity
    own = client.identity.encryption.recipient

    def addressed(hidden: HiddenEvent, state: NegotiationState) -> bool:
        authors = sorted({cert.encryption_key for cert in state.members.values()})
        return addressed_to(identity, own, authors, hidden.nonce, hidden.tags)

    return addressed


def list_events(client: Client, negotiation_id: str, after: int, consistency_from: int | None = None) -> dict:
    """One listing of events after ``after``; with ``consistency_from`` the relay adds the consistency proof
    from that size to the checkpoint it serves (one round trip for both)."""
    params: dict[str, Any] = {"after": after, "limit": client.limits.max_page_events}
    if consistency_from:
        params["consistency_from"] = consistency_from
    page = client.conn.get(f"/v1/negotiations/{negotiation_id}/events", **params)
    if not isinstance(page, dict) or not isinstance(page.get("events"), list):
        raise VerificationError("the relay's listing is malformed")
    return page


def start(client: Client, log: VerifiedLog, negotiation_id: str, page: Mapping[str, Any]) -> Checkpoint:
    """Open the listing's checkpoint and start a step towards it (with the proof the listing carried).

    Raises:
        RollbackError / ForkError: it does not extend the pinned checkpoint.
        SignatureError / VerificationError: a bad or malformed checkpoint.
    """
    note = page.get("checkpoint")
    if not isinstance(note, str):
        raise VerificationError("the relay's listing carries no signed checkpoint")
    checkpoint = log.open_checkpoint(note, page.get("size"))
    log.update(checkpoint, note, _proof(client, log, negotiation_id, checkpoint, page))
    return checkpoint


def _proof(client: Client, log: VerifiedLog, negotiation_id: str, checkpoint: Checkpoint,
           page: Mapping[str, Any]) -> list[bytes]:
    if not log.needs_consistency_proof(checkpoint):
        return []
    encoded = page.get("consistency_proof")
    if encoded is None:  # a relay from before proofs travelled with the listing
        encoded = client.conn.get(f"/v1/negotiations/{negotiation_id}/proof/consistency", first=log.size,
                                  second=checkpoint.size).get("proof")
    try:
        return [base64.b64decode(p, validate=True) for p in encoded]
    except (TypeError, ValueError, binascii.Error):
        raise VerificationError("the relay's consistency proof is malformed") from None


def feed(client: Client, log: VerifiedLog, negotiation_id: str, page: dict[str, Any],
         check: Callable[[Sequence[Mapping[str, Any]]], None] | None = None,
         task: str = "fetching events", store: Callable[[Sequence[VerifiedEvent]], None] | None = None) -> None:
    """The page loop: feed ``page`` and the pages after it until the step's checkpoint is covered.

    ``check`` sees each page's entries before the log does; ``task`` names the progress reported; ``store``
    takes each page's events once the log has checked them (``VerifiedLog.take_events``: not yet against
    the checkpoint, so it must write where a failure undoes it). A page's entries are dropped once fed
    (``page["events"]`` is emptied): only the leaf hashes of a long step stay in memory.

    Raises:
        VerificationError (any subclass): what ``VerifiedLog.extend`` refuses.
    """
    first = log.expected_seq
    while True:
        items = page["events"]
        if check is not None:
            check(items)
        log.extend(items)
        items.clear()  # the caller still holds the first page: its megabytes of ciphertexts go now
        if store is not None:
            store(log.take_events())
        report(task, log.expected_seq - first, log.target_size - first)
        if log.complete:
            return
        page = list_events(client, negotiation_id, log.expected_seq - 1)


def store_events(client: Client, writer: SyncWriter, events: Sequence[VerifiedEvent]) -> None:
    """Open the bodies of ``events`` addressed to this device and write them in the sync's transaction.

    Raises:
        ProtocolError: the relay withheld a ciphertext addressed to this device; a body does not open.
        VerificationError: the cache holds other events at these positions.
    """
    writer.add_events(stored_rows(client, events))


def stored_rows(client: Client, events: Sequence[VerifiedEvent]) -> list[tuple[int, str, dict, dict | None, str]]:
    """``events`` as the cache stores them: (seq, event id, envelope or hidden entry, body or None, received_at).

    Raises:
        ProtocolError: the relay withheld a ciphertext addressed to this device; a body does not open.
    """
    return [(e.seq, e.envelope.event_id, e.envelope.to_obj(),
             None if isinstance(e.envelope, HiddenEvent) else client.open_body(e.envelope), e.received_at)
            for e in events]


def log_item(seq: int, stored: Mapping[str, Any], received_at: str) -> dict[str, Any]:
    """A stored envelope or hidden entry (``ClientCache``) as a listing serves it, for ``VerifiedLog.extend``."""
    if "hidden" in stored:
        return {"seq": seq, "hidden": stored["hidden"]}
    return {"seq": seq, "received_at": received_at, "event": stored}


def _close(client: Client, negotiation_id: str, writer: SyncWriter, batch: VerifiedBatch) -> SyncResult:
    """Write what is left of a verified ``batch``, its tree nodes and checkpoint: the transaction commits."""
    store_events(client, writer, batch.events)
    checkpoint = batch.checkpoint
    writer.finish(batch.nodes, (checkpoint.size, checkpoint.root, batch.note), gossip=batch.pending_gossip)
    return SyncResult(negotiation_id, writer.stored, checkpoint.size, checkpoint.root, batch.note)


def persist(client: Client, negotiation_id: str, batch: VerifiedBatch) -> SyncResult:
    """Open the bodies addressed to this device and store the batch atomically.

    Raises:
        ProtocolError: the relay withheld a ciphertext addressed to this device; a body does not open.
        VerificationError: the cache holds other events at these positions.
    """
    with client.cache.sync_writer(negotiation_id) as writer:
        return _close(client, negotiation_id, writer, batch)


def sync(client: Client, negotiation_id: str) -> SyncResult:
    """Fetch, verify and store every new event (one listing, more pages only for a long backlog), page by
    page in one transaction: nothing is stored unless the whole step verifies against the signed checkpoint.

    Raises: as ``Client.sync``.
    """
    log = load(client, negotiation_id)
    page = list_events(client, negotiation_id, log.size - 1, consistency_from=log.size)
    start(client, log, negotiation_id, page)
    with client.cache.sync_writer(negotiation_id) as writer:
        feed(client, log, negotiation_id, page, store=lambda events: store_events(client, writer, events))
        return _close(client, negotiation_id, writer, log.finish(client.check_trust))


def accept_ack(client: Client, negotiation_id: str, envelope: Envelope,
               answer: Mapping[str, Any]) -> SyncResult | None:
    """Take the relay's acknowledgement of this device's own event: its inclusion proof must lead to the
    signed root; when the event is the next entry of the verified log, it is stored without listing again.

    Returns None when other events came first (the next sync takes them in, with this one).

    Raises:
        SignatureError / VerificationError / ProofError / ForkError: a false acknowledgement.
    """
    log = load(client, negotiation_id)
    batch = log.accept_ack(envelope, Acknowledgement.from_answer(answer), client.check_trust)
    return None if batch is None else persist(client, negotiation_id, batch)


def verify(client: Client, negotiation_id: str) -> SyncResult:
    """Re-verify a negotiation from scratch: the local copy against its stored checkpoint, then the relay's
    whole log, from its first event, against the local copy (same events) and its own checkpoint.

    Raises:
        VerificationError (any subclass): something does not verify; the message says what.
    """
    local = _local(client, negotiation_id)
    known = local
    pinned = load(client, negotiation_id) if known or client.cache.checkpoint(negotiation_id) else None
    fresh = VerifiedLog.empty(negotiation_id, verifier=client.relay_verifier(), origin=client.origin(negotiation_id),
                              own_device=client.identity.device_key_id, limits=client.limits,
                              addressed=addressed_check(client))
    page = list_events(client, negotiation_id, -1, consistency_from=len(known))
    note = page.get("checkpoint")
    if pinned is not None:
        start(client, pinned, negotiation_id, page)  # no rollback, no fork from what was verified before
    if not isinstance(note, str):
        raise VerificationError("the relay's listing carries no signed checkpoint")
    fresh.update(fresh.open_checkpoint(note, page.get("size")), note)

    def same_as_before(items: Sequence[Mapping[str, Any]]) -> None:
        for item in items:
            seq = item.get("seq") if isinstance(item, Mapping) else None
            if isinstance(seq, int) and seq in known:
                leaf = served_entry(item, client.limits).leaf_bytes()
                if leaf != known[seq]:
                    raise ForkError(f"the relay now serves a different event {seq} than the one verified "
                                    "before: it rewrote history")

    def new_only(events: Sequence[VerifiedEvent]) -> tuple[VerifiedEvent, ...]:
        return tuple(e for e in events if e.seq not in known)

    with client.cache.sync_writer(negotiation_id) as writer:
        feed(client, fresh, negotiation_id, page, check=same_as_before, task="checking the relay's log",
             store=lambda events: store_events(client, writer, new_only(events)))
        batch = fresh.finish(client.check_trust)
        return _close(client, negotiation_id, writer, replace(batch, events=new_only(batch.events)))


def _local(client: Client, negotiation_id: str) -> dict[int, bytes]:
    """Replay the local copy through a fresh ``VerifiedLog``: every event against the protocol core, the
    recomputed root against the stored signed checkpoint. Returns each position's leaf bytes.

    Raises:
        VerificationError: a gap in the local copy.  ForkError: it does not hash to its checkpoint.
    """
    stored = client.cache.checkpoint(negotiation_id)
    positions = client.cache.positions(negotiation_id)
    for index, seq in enumerate(positions):
        if seq != index:
            raise VerificationError(f"local copy has a gap at event {index}")
    if stored is None:
        if positions:
            raise ForkError("the local copy holds events but no checkpoint they were verified under")
        return {}
    log = VerifiedLog.empty(negotiation_id, verifier=client.relay_verifier(), origin=client.origin(negotiation_id),
                            own_device=client.identity.device_key_id, limits=client.limits,
                            addressed=addressed_check(client))
    checkpoint = log.open_checkpoint(stored[2])
    if checkpoint.size != len(positions) or checkpoint.size != stored[0] or checkpoint.root != stored[1]:
        raise ForkError("the local copy does not hash to the checkpoint it was verified under")
    log.update(checkpoint, stored[2])
    leaves: dict[int, bytes] = {}

    def replay(rows: list[dict[str, Any]]) -> None:
        log.extend(rows)
        leaves.update((e.seq, e.envelope.leaf_bytes()) for e in log.take_events())
        report("verifying the local copy", len(leaves), len(positions))

    # Envelopes only, 100 at a time: a large attachment's chunks are never all in memory at once.
    rows: list[dict[str, Any]] = []
    for seq, env, at in client.cache.iter_envelopes(negotiation_id):
        rows.append(log_item(seq, env, at))
        if len(rows) == 100:
            replay(rows)
            rows = []
    if rows:
        replay(rows)
    try:
        log.finish()
    except ForkError:
        raise ForkError("the local copy does not hash to the checkpoint it was verified under") from None
    return leaves


__all__ = ["Posted", "SyncResult", "accept_ack", "addressed_check", "feed", "list_events", "load", "log_item",
           "persist", "start", "store_events", "stored_rows", "sync", "verify"]
