"""``VerifiedLog``: everything one client has verified about one negotiation's log, and every rule for growing it.

The counterpart of python-tuf's ``TrustedMetadataSet``: pure (no I/O, no clock, no randomness), fed by
the client workflow (``parley.client.sdk``), which fetches from the relay and persists what this object
hands back. It holds the pinned checkpoint, a view of the Merkle node store and the ``NegotiationState``
folded from every verified event, and grows them in three steps, each refusing with a named error:

``update(checkpoint, consistency_proof)``
    a newly served signed checkpoint must extend the pinned one (``RollbackError``, ``ForkError``);
``extend(items)``
    the served events, in order, up to that checkpoint (a gap, a dropped or rewritten event, a protocol
    violation); ``take_events()`` hands over those fed so far, so that a long step (a large attachment's
    chunks) is stored page by page instead of held; ``finish()`` then checks the recomputed root against the
    checkpoint and the checkpoints other parties gossip inside their events, and returns the
    ``VerifiedBatch`` to store (the events not taken before);
``accept_ack(envelope, ack)``
    the relay's acknowledgement of this client's own event: when it is the very next entry of the pinned
    log, the new root is recomputed from the pinned tree plus that one leaf, so the client appends its own
    event without listing the log again.

A step that raises leaves the object half-grown: the caller drops it and rebuilds it from storage.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from parley.errors import ForkError, InputError, ProtocolError, VerificationError
from parley.protocol.events import Envelope, HiddenEvent
from parley.protocol.state import NegotiationState
from parley.settings import DEFAULT_LIMITS, Limits
from parley.tlog import merkle
from parley.tlog.checkpoint import Checkpoint, check_extension, open_checkpoint
from parley.tlog.note import Verifier

#: (size, root, id of the event that carried it): a checkpoint another member verified
Gossip = tuple[int, bytes, str]
#: whether a hidden entry's audience tags name this device, given the state so far (its possible authors)
Addressed = Callable[["HiddenEvent", NegotiationState], bool]


@dataclass(frozen=True)
class VerifiedEvent:
    """One event verified into the log: its position, the envelope, and when the relay received it."""

    seq: int
    #: the event, or only its hidden entry when this member's party is outside its audience
    envelope: Envelope | HiddenEvent
    received_at: str


@dataclass(frozen=True)
class VerifiedBatch:
    """What one verified step adds, for the caller to store atomically."""

    events: tuple[VerifiedEvent, ...]
    nodes: tuple[merkle.Node, ...]
    checkpoint: Checkpoint
    note: str
    #: gossip still ahead of the log (to keep); gossip at or below ``checkpoint.size`` was checked
    pending_gossip: tuple[Gossip, ...]


@dataclass(frozen=True)
class Acknowledgement:
    """The relay's answer to a posted event.

    Raises (``from_answer``):
        VerificationError: a field is missing or of the wrong type.
    """

    seq: int
    event_id: str
    size: int
    note: str
    inclusion_proof: tuple[bytes, ...]
    received_at: str = ""

    @classmethod
    def from_answer(cls, answer: Mapping[str, Any]) -> Acknowledgement:
        try:
            proof = tuple(base64.b64decode(p, validate=True) for p in answer["inclusion_proof"])
            ack = cls(answer["seq"], answer["event_id"], answer["size"], answer["checkpoint"], proof,
                      answer.get("received_at") or "")
        except (KeyError, TypeError, ValueError, binascii.Error):
            raise VerificationError("the relay's acknowledgement is malformed") from None
        if not (isinstance(ack.seq, int) and isinstance(ack.size, int) and isinstance(ack.event_id, str)
                and isinstance(ack.note, str) and isinstance(ack.received_at, str)):
            raise VerificationError("the relay's acknowledgement is malformed")
        return ack


class _Overlay:
    """The stored nodes plus those this step computed (not yet stored)."""

    def __init__(self, stored: merkle.NodeReader) -> None:
        self.stored = stored
        self.added: dict[merkle.NodeKey, bytes] = {}

    def get_nodes(self, keys: Sequence[merkle.NodeKey]) -> Mapping[merkle.NodeKey, bytes]:
        found = {k: self.added[k] for k in keys if k in self.added}
        missing = [k for k in keys if k not in found]
        if missing:
            found.update(self.stored.get_nodes(missing))
        return found


@dataclass
class _Step:
    target: Checkpoint
    note: str
    #: fed and not yet taken (``take_events``)
    events: list[VerifiedEvent] = field(default_factory=list)
    #: leaf hashes of every event fed in this step (32 bytes each: kept for the root, whatever was taken)
    leaves: list[bytes] = field(default_factory=list)
    #: author device of each event of this step that gossiped a checkpoint (to name who saw a fork)
    gossip_authors: dict[str, str] = field(default_factory=dict)


def served_entry(item: Mapping[str, Any], limits: Limits = DEFAULT_LIMITS) -> Envelope | HiddenEvent:
    """The event of a served (or stored) log entry: ``{"seq", "received_at", "event"}`` or ``{"seq", "hidden"}``.

    Raises:
        VerificationError: neither.  InputError / LimitError: a malformed event or hidden entry.
    """
    try:
        if "hidden" in item:
            return HiddenEvent.from_obj(item["hidden"], limits)
        return Envelope.from_obj(item["event"], limits)
    except (KeyError, TypeError):
        raise VerificationError(f"the relay served a malformed entry at {item.get('seq')}") from None


class VerifiedLog:
    """One negotiation's verified log, as one member device holds it.

    ``pinned`` is the last verified checkpoint and its signed note (None: nothing verified yet, trust on
    first use); ``nodes`` reads the stored tree of ``pinned.size`` leaves; ``state`` is the protocol state
    folded from exactly those events; ``gossip`` the checkpoints other members' events carried that are
    still ahead of the log. ``own_device`` is this device's key id (its own events gossip nothing to it).
    """

    def __init__(self, negotiation_id: str, *, verifier: Verifier, origin: str, own_device: str,
                 pinned: tuple[Checkpoint, str] | None, nodes: merkle.NodeReader, state: NegotiationState,
                 gossip: Sequence[Gossip] = (), limits: Limits = DEFAULT_LIMITS,
                 addressed: Addressed | None = None) -> None:
        self.negotiation_id = negotiation_id
        self.addressed = addressed
        self.verifier = verifier
        self.origin = origin
        self.own_device = own_device
        self.limits = limits
        self.pinned = None if pinned is None else pinned[0]
        self.note = None if pinned is None else pinned[1]
        self.nodes = _Overlay(nodes)
        self.state = state
        self.gossip: list[Gossip] = list(gossip)
        self._step: _Step | None = None

    @classmethod
    def empty(cls, negotiation_id: str, *, verifier: Verifier, origin: str, own_device: str,
              limits: Limits = DEFAULT_LIMITS, addressed: Addressed | None = None) -> VerifiedLog:
        """A log with nothing verified yet (first contact, or a re-verification from scratch)."""
        return cls(negotiation_id, verifier=verifier, origin=origin, own_device=own_device, pinned=None,
                   nodes=merkle.MemoryNodeStore(), state=NegotiationState(negotiation_id, limits), limits=limits,
                   addressed=addressed)

    @property
    def size(self) -> int:
        """Entries verified (and pinned) so far."""
        return 0 if self.pinned is None else self.pinned.size

    @property
    def expected_seq(self) -> int:
        """The position of the next entry ``extend`` takes."""
        return self.size + (0 if self._step is None else len(self._step.leaves))

    @property
    def target_size(self) -> int:
        """The size of the checkpoint the current step verifies towards (``size`` between steps)."""
        return self.size if self._step is None else self._step.target.size

    @property
    def complete(self) -> bool:
        """Every entry up to the checkpoint of the current step was fed."""
        return self._step is None or self.expected_seq >= self._step.target.size

    # ---- checkpoints ---------------------------------------------------------------------------------
    def open_checkpoint(self, note: str, listed_size: int | None = None) -> Checkpoint:
        """Verify a signed checkpoint note of this log (signature, origin, and the size the listing states).

        Raises:
            SignatureError: not signed by the pinned relay key.
            VerificationError: malformed, another log's, or a size other than the listing's.
        """
        checkpoint = open_checkpoint(note, [self.verifier], expected_origin=self.origin)
        if listed_size is not None and checkpoint.size != listed_size:
            raise VerificationError("the relay's listing and its signed checkpoint disagree on the log size")
        return checkpoint

    def needs_consistency_proof(self, checkpoint: Checkpoint) -> bool:
        """Whether ``update`` to ``checkpoint`` needs a consistency proof from the pinned size."""
        return self.pinned is not None and 0 < self.pinned.size < checkpoint.size

    def update(self, checkpoint: Checkpoint, note: str, consistency_proof: Sequence[bytes] = ()) -> None:
        """Start a step towards ``checkpoint`` (opened by ``open_checkpoint``), which must extend the pinned one.

        Raises:
            RollbackError: smaller than the pinned checkpoint.
            ForkError: same size with another root, or the proof does not show an extension.
            VerificationError: another log's checkpoint; a step already under way.
        """
        if self._step is not None:
            raise VerificationError("a verification step is already under way for this log")
        check_extension(self.pinned, checkpoint, consistency_proof)
        self._step = _Step(checkpoint, note)

    # ---- events --------------------------------------------------------------------------------------
    def extend(self, items: Sequence[Mapping[str, Any]]) -> list[VerifiedEvent]:
        """Feed served entries (``{"seq", "received_at", "event"}``, or ``{"seq", "hidden"}`` for an event whose
        audience leaves this member's party out), in order, from ``expected_seq``.

        Entries at or past the step's checkpoint are ignored (the log may have grown since it was signed).

        Raises:
            VerificationError: no entry where the checkpoint says there are more (dropped events), or a
                gap in the sequence numbers; a malformed event.
            ProtocolError / SignatureError / TrustError: an event breaks a protocol rule; a hidden entry whose
                tags name this device (``addressed``): an event withheld from it.
        """
        step = self._require_step()
        size = step.target.size
        served = [item for item in items if isinstance(item, Mapping) and _seq_of(item) < size]
        if not served and self.expected_seq < size:
            raise VerificationError(
                f"the relay's checkpoint covers {size} events but it served only {self.expected_seq}: "
                "events were dropped")
        added = []
        for item in served:
            expected = self.expected_seq
            if item["seq"] != expected:
                raise VerificationError(
                    f"the relay skipped event {expected} (served {item['seq']}): a dropped event")
            entry = served_entry(item, self.limits)
            received = item.get("received_at", "")
            if isinstance(entry, HiddenEvent) and self.addressed is not None and self.addressed(entry, self.state):
                raise ProtocolError(
                    f"the relay served event {expected} hidden, but its tags name this device as a reader: it "
                    "withheld an event addressed to this device (or its author named this device falsely)")
            self.state.accept(entry)
            if isinstance(entry, Envelope) and entry.header.checkpoint is not None and entry.header.author != self.own_device:
                self.gossip.append(_gossip_of(entry.header.checkpoint, entry.event_id))
                step.gossip_authors[entry.event_id] = entry.header.author
            event = VerifiedEvent(expected, entry, received if isinstance(received, str) else "")
            step.events.append(event)
            step.leaves.append(merkle.leaf_hash(entry.leaf_bytes()))
            added.append(event)
        return added

    def take_events(self) -> tuple[VerifiedEvent, ...]:
        """Hand over the events fed in this step since the last call, and forget them (their leaf hashes stay
        for ``finish``). Each passed the protocol rules, but the step is not verified against its signed
        checkpoint until ``finish``: the caller stores them so that it can undo it (one transaction, rolled
        back if anything in the step raises).

        Raises:
            VerificationError: no step under way.
        """
        step = self._require_step()
        taken, step.events = tuple(step.events), []
        return taken

    def finish(self, trust: Callable[[NegotiationState], None] | None = None) -> VerifiedBatch:
        """End the step: the fed events must hash to its checkpoint, pass ``trust`` (the caller's check of the
        parties' root keys against its pins) and agree with every gossiped checkpoint the log now covers.
        Pins the checkpoint; returns what to store (the events ``take_events`` did not hand over before).

        Raises:
            VerificationError: fewer events fed than the checkpoint covers.
            ForkError: the events do not hash to the signed root; another member verified a different
                history at a size the log now covers.
        """
        step = self._require_step()
        if self.expected_seq < step.target.size:
            raise VerificationError(
                f"the relay's checkpoint covers {step.target.size} events but it served only "
                f"{self.expected_seq}: events were dropped")
        nodes = merkle.append_many(self.size, step.leaves, self.nodes)
        self.nodes.added.update({(level, index): digest for level, index, digest in nodes})
        size = step.target.size
        if size and merkle.root_from_nodes(size, self.nodes) != step.target.root:
            raise ForkError("the events the relay served do not hash to its signed checkpoint: "
                            "an event was rewritten, reordered or replaced")
        return self._pin(step, nodes, trust)

    def _pin(self, step: _Step, nodes: Sequence[merkle.Node],
             trust: Callable[[NegotiationState], None] | None) -> VerifiedBatch:
        size = step.target.size
        if trust is not None:
            trust(self.state)
        self._check_gossip(size)
        self.pinned, self.note, self._step = step.target, step.note, None
        self.gossip = [g for g in self.gossip if g[0] > size]
        return VerifiedBatch(tuple(step.events), tuple(nodes), step.target, step.note, tuple(self.gossip))

    def _check_gossip(self, size: int) -> None:
        for seen_size, seen_root, event_id in self.gossip:
            if seen_size > size:
                continue
            ours = merkle.root_from_nodes(seen_size, self.nodes) if seen_size else merkle.EMPTY_ROOT
            if ours != seen_root:
                who = self._author_of(event_id)
                raise ForkError(f"{who} verified a different history at size {seen_size}: the relay forked the "
                                "log between parties")

    def _author_of(self, event_id: str) -> str:
        author = None if self._step is None else self._step.gossip_authors.get(event_id)
        member = None if author is None else self.state.members.get(author)
        return "another member" if member is None else member.member

    # ---- this client's own events --------------------------------------------------------------------
    def check_ack(self, envelope: Envelope, ack: Acknowledgement) -> Checkpoint:
        """The acknowledgement must prove ``envelope`` is in the log the relay signed.

        Raises:
            SignatureError / VerificationError: a bad checkpoint; another event acknowledged.
            ProofError: the inclusion proof does not lead to the signed root.
        """
        checkpoint = self.open_checkpoint(ack.note)
        if ack.event_id != envelope.event_id or checkpoint.size != ack.size:
            raise VerificationError("the relay acknowledged another event than the one posted")
        merkle.verify_inclusion(merkle.leaf_hash(envelope.leaf_bytes()), ack.seq, checkpoint.size,
                                list(ack.inclusion_proof), checkpoint.root)
        return checkpoint

    def accept_ack(self, envelope: Envelope, ack: Acknowledgement,
                   trust: Callable[[NegotiationState], None] | None = None) -> VerifiedBatch | None:
        """Check the acknowledgement of this client's own ``envelope`` and, when the event is the next entry
        of the pinned log, append it: the signed root must be the pinned tree plus this one leaf.

        Returns the batch to store, or None when other events came first (the log must be listed to take
        them in; the acknowledgement still proved the event is logged).

        Raises:
            SignatureError / VerificationError / ProofError: as ``check_ack``.
            ForkError: the signed tree is not the pinned tree plus this event.
            ProtocolError: the event breaks a rule of the state it claims to extend.
        """
        if self._step is not None:
            raise VerificationError("a verification step is already under way for this log")
        checkpoint = self.check_ack(envelope, ack)
        if ack.seq != self.size or checkpoint.size != self.size + 1:
            if checkpoint.size <= self.size and self.pinned is not None:
                check_extension(self.pinned, checkpoint, ())  # a relay that acknowledges into the past
            return None
        step = _Step(checkpoint, ack.note)
        self._step = step
        self.extend([{"seq": ack.seq, "received_at": ack.received_at, "event": envelope.to_obj()}])
        nodes = merkle.append_many(self.size, step.leaves, self.nodes)
        self.nodes.added.update({(level, index): digest for level, index, digest in nodes})
        if merkle.root_from_nodes(checkpoint.size, self.nodes) != checkpoint.root:
            raise ForkError(f"relay showed a history of log {checkpoint.origin!r} that is not an extension of the "
                            f"one verified before (size {self.size} -> {checkpoint.size}): the acknowledgement's "
                            "tree is not the verified tree plus the posted event")
        return self._pin(step, nodes, trust)

    def _require_step(self) -> _Step:
        if self._step is None:
            raise VerificationError("no checkpoint to verify against: call update() first")
        return self._step


def _seq_of(item: Mapping[str, Any]) -> int:
    seq = item.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool):
        raise VerificationError("the relay served an entry without a sequence number")
    return seq


def _gossip_of(seen: Mapping[str, Any], event_id: str) -> Gossip:
    """A gossiped checkpoint from an event header (the header parser checked its shape).

    Raises:
        InputError: a root that is not base64.
    """
    try:
        return seen["size"], base64.b64decode(seen["root"], validate=True), event_id
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise InputError("an event carries a malformed checkpoint") from None


__all__ = ["Acknowledgement", "Addressed", "Gossip", "VerifiedBatch", "VerifiedEvent", "VerifiedLog", "served_entry"]
