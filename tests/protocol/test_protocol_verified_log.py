"""``VerifiedLog``: the client's verification rules, with no relay and no I/O.

A relay is modelled by its log (real signed envelopes), its Merkle tree and its checkpoint signing key;
each test serves the verified log something and checks what it refuses, by name.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from protocol_builders import NOW, Negotiation, Party

from parley.crypto.keys import SigningKey, new_nonce
from parley.errors import (
    ForkError,
    ProofError,
    ProtocolError,
    RollbackError,
    SignatureError,
    VerificationError,
)
from parley.protocol.events import Audience, Envelope, build_header, sign_header
from parley.protocol.state import PUBLIC_STATEMENT, NegotiationState
from parley.protocol.verified_log import Acknowledgement, VerifiedLog
from parley.tlog import merkle
from parley.tlog.checkpoint import Checkpoint, checkpoint_origin, sign_checkpoint
from parley.tlog.note import Signer, Verifier

RELAY = "relay.test"


@dataclass
class Talks:
    """A genuine negotiation log (Ukraine convenes, Russia joins, messages), signed by a relay key."""

    negotiation: Negotiation
    ukraine: Party
    russia: Party
    signer: Signer

    @property
    def log(self) -> list[Envelope]:
        return self.negotiation.log

    @property
    def origin(self) -> str:
        return checkpoint_origin(RELAY, self.negotiation.id)

    def tree(self, envelopes: Sequence[Envelope]) -> merkle.MemoryNodeStore:
        store = merkle.MemoryNodeStore()
        store.put(merkle.append_many(0, [merkle.leaf_hash(e.leaf_bytes()) for e in envelopes], store))
        return store

    def note(self, envelopes: Sequence[Envelope], signer: Signer | None = None, origin: str | None = None) -> str:
        size = len(envelopes)
        root = merkle.root_from_nodes(size, self.tree(envelopes)) if size else merkle.EMPTY_ROOT
        return sign_checkpoint(Checkpoint(origin or self.origin, size, root), signer or self.signer)

    def items(self, envelopes: Sequence[Envelope], start: int = 0) -> list[dict[str, Any]]:
        return [{"seq": start + i, "received_at": "2025-06-02T10:00:00Z", "event": e.to_obj()}
                for i, e in enumerate(envelopes)]

    def consistency(self, envelopes: Sequence[Envelope], first: int) -> list[bytes]:
        return merkle.consistency_proof(first, len(envelopes), self.tree(envelopes))

    def empty_log(self, own_device: str | None = None) -> VerifiedLog:
        return VerifiedLog.empty(self.negotiation.id, verifier=Verifier.from_vkey(self.signer.vkey()),
                                 origin=self.origin, own_device=own_device or self.ukraine.head.id)

    def verified(self, upto: int, own_device: str | None = None) -> VerifiedLog:
        """A log that verified the first ``upto`` events."""
        log = self.empty_log(own_device)
        feed(log, self, self.log[:upto])
        return log


def feed(log: VerifiedLog, talks: Talks, envelopes: Sequence[Envelope], proof: Sequence[bytes] | None = None,
         pages: Sequence[int] = ()) -> Any:
    """Serve ``envelopes`` (the relay's whole log) to ``log`` from its size, in pages of the given sizes."""
    note = talks.note(envelopes)
    checkpoint = log.open_checkpoint(note, len(envelopes))
    if proof is None:
        proof = talks.consistency(envelopes, log.size) if log.needs_consistency_proof(checkpoint) else []
    log.update(checkpoint, note, proof)
    items = talks.items(envelopes[log.size:], log.size)
    sizes = list(pages) or [len(items)]
    start = 0
    for size in sizes:
        log.extend(items[start:start + size])
        start += size
        if log.complete:
            break
    if not log.complete:
        log.extend(items[start:])
    return log.finish()


@pytest.fixture(scope="module")
def talks() -> Talks:
    negotiation = Negotiation("n-verified-log")
    ukraine, russia = Party.create("Ukraine"), Party.create("Russian Federation")
    negotiation.genesis(ukraine)
    negotiation.invite(ukraine.head, russia)
    negotiation.join(russia)
    readers = negotiation.members_of(ukraine, russia)
    for n in range(9):
        negotiation.message((ukraine if n % 2 else russia).head, f"point {n}", readers=readers)
    return Talks(negotiation, ukraine, russia, Signer(RELAY, SigningKey.generate().private))


# ---- honest logs ----------------------------------------------------------------------------------------
@settings(max_examples=40, deadline=None)
@given(first=st.integers(0, 12), pages=st.lists(st.integers(1, 5), max_size=12))
def test_an_honest_log_verifies_however_it_is_paged(talks, first, pages):
    log = talks.verified(first)
    batch = feed(log, talks, talks.log, pages=pages)
    assert log.size == len(talks.log) == batch.checkpoint.size
    assert [e.seq for e in batch.events] == list(range(first, len(talks.log)))
    assert log.state.size == len(talks.log)
    assert merkle.root_from_nodes(log.size, log.nodes) == batch.checkpoint.root


def test_the_batch_holds_exactly_the_new_nodes(talks):
    log = talks.verified(5)
    batch = feed(log, talks, talks.log)
    expected = talks.tree(talks.log)
    for level, index, digest in batch.nodes:
        assert expected.get_nodes([(level, index)])[(level, index)] == digest


# ---- a relay that lies in its listing ------------------------------------------------------------------
def test_relay_drops_an_event_is_refused(talks):
    log = talks.verified(3)
    note = talks.note(talks.log)
    log.update(log.open_checkpoint(note), note, talks.consistency(talks.log, 3))
    items = talks.items(talks.log[3:], 3)
    with pytest.raises(VerificationError, match="skipped event 4 \\(served 5\\): a dropped event"):
        log.extend([items[0], *items[2:]])


def test_relay_stops_short_of_its_checkpoint_is_refused(talks):
    log = talks.verified(3)
    note = talks.note(talks.log)
    log.update(log.open_checkpoint(note), note, talks.consistency(talks.log, 3))
    log.extend(talks.items(talks.log[3:6], 3))
    with pytest.raises(VerificationError, match="served only 6: events were dropped"):
        log.extend([])
    with pytest.raises(VerificationError, match="served only 6: events were dropped"):
        log.finish()


def test_relay_rewrites_an_event_is_refused(talks):
    """A valid event that is not the one the relay signed into its tree: the root does not match."""
    log = talks.verified(len(talks.log) - 1)
    note = talks.note(talks.log)
    log.update(log.open_checkpoint(note), note, talks.consistency(talks.log, log.size))
    other = talks.negotiation.encrypted(talks.russia.head, "message", {"text": "a different last word"},
                                        readers=[talks.russia.head], parties=[talks.russia.id],
                                        prev=talks.log[-2].event_id)
    log.extend(talks.items([other], log.size))
    with pytest.raises(ForkError, match="do not hash to its signed checkpoint"):
        log.finish()


def test_relay_reorders_events_is_refused(talks):
    log = talks.verified(3)
    note = talks.note(talks.log)
    log.update(log.open_checkpoint(note), note, talks.consistency(talks.log, 3))
    swapped = [talks.log[4], talks.log[3]]
    with pytest.raises(ProtocolError):
        log.extend(talks.items(swapped, 3))


# ---- a relay that lies about its tree -------------------------------------------------------------------
def test_relay_rolls_back_the_tree_is_refused(talks):
    log = talks.verified(8)
    note = talks.note(talks.log[:6])
    with pytest.raises(RollbackError, match="from 8 to 6 entries"):
        log.update(log.open_checkpoint(note), note, [])


def test_relay_forks_the_log_at_the_same_size_is_refused(talks):
    log = talks.verified(6)
    fork = [*talks.log[:5], talks.log[6]]
    note = talks.note(fork)
    with pytest.raises(ForkError, match="two different histories"):
        log.update(log.open_checkpoint(note), note, [])


def test_relay_serves_a_bad_consistency_proof_is_refused(talks):
    log = talks.verified(4)
    proof = talks.consistency(talks.log, 4)
    note = talks.note(talks.log)
    for bad in ([], proof[:-1], [bytes(32), *proof[1:]]):
        with pytest.raises(ForkError, match="not an extension of the one verified before"):
            log.update(log.open_checkpoint(note), note, bad)


def test_checkpoint_signed_by_another_key_is_refused(talks):
    log = talks.verified(4)
    forged = talks.note(talks.log, signer=Signer(RELAY, SigningKey.generate().private))
    with pytest.raises(SignatureError):
        log.open_checkpoint(forged)


def test_checkpoint_of_another_negotiation_is_refused(talks):
    log = talks.verified(4)
    other = talks.note(talks.log, origin=checkpoint_origin(RELAY, "n-elsewhere"))
    with pytest.raises(VerificationError, match="expected"):
        log.open_checkpoint(other)


def test_listing_that_disagrees_with_its_checkpoint_is_refused(talks):
    log = talks.verified(4)
    with pytest.raises(VerificationError, match="disagree on the log size"):
        log.open_checkpoint(talks.note(talks.log), len(talks.log) + 1)


def test_steps_in_the_wrong_order_are_refused(talks):
    log = talks.verified(4)
    with pytest.raises(VerificationError, match="call update"):
        log.extend(talks.items(talks.log[4:], 4))
    note = talks.note(talks.log)
    log.update(log.open_checkpoint(note), note, talks.consistency(talks.log, 4))
    with pytest.raises(VerificationError, match="already under way"):
        log.update(log.open_checkpoint(note), note, talks.consistency(talks.log, 4))


# ---- gossip ---------------------------------------------------------------------------------------------
def _gossiping(talks: Talks, seen_size: int, seen_root: bytes) -> Envelope:
    """A Russian message carrying the checkpoint its author verified."""
    head = talks.russia.head
    header = build_header(nonce=new_nonce(), negotiation=talks.negotiation.id, author=head.id, created=NOW,
                          audience=Audience(tuple(sorted((talks.russia.id, talks.ukraine.id)))),
                          prev=talks.log[-1].event_id,
                          public={"type": PUBLIC_STATEMENT, "content": {"text": "seen"}}, authority="head",
                          checkpoint={"size": seen_size, "root": base64.b64encode(seen_root).decode()})
    return Envelope(header, sign_header(head.signing, header), ())


def test_member_who_verified_a_different_history_reveals_a_fork(talks):
    honest_root = merkle.root_from_nodes(5, talks.tree(talks.log[:5]))
    for root, fails in ((honest_root, False), (bytes(32), True)):
        envelopes = [*talks.log, _gossiping(talks, 5, root)]
        log = talks.verified(len(talks.log))
        if fails:
            with pytest.raises(ForkError, match="Head verified a different history at size 5"):
                feed(log, talks, envelopes)
        else:
            assert feed(log, talks, envelopes).pending_gossip == ()


def test_gossip_ahead_of_the_log_waits_for_it(talks):
    envelopes = [*talks.log, _gossiping(talks, 40, bytes(32))]
    log = talks.verified(len(talks.log))
    batch = feed(log, talks, envelopes)
    assert [(size, event_id) for size, _, event_id in batch.pending_gossip] == [(40, envelopes[-1].event_id)]


# ---- acknowledgements of one's own events ---------------------------------------------------------------
def _ack(talks: Talks, envelopes: Sequence[Envelope], seq: int, **changes: Any) -> Acknowledgement:
    tree = talks.tree(envelopes)
    fields = {"seq": seq, "event_id": envelopes[seq].event_id, "size": len(envelopes), "note": talks.note(envelopes),
              "inclusion_proof": tuple(merkle.inclusion_proof(seq, len(envelopes), tree)),
              "received_at": "2025-06-02T10:00:01Z"}
    return Acknowledgement(**{**fields, **changes})


def _next_message(talks: Talks, prefix: Sequence[Envelope]) -> Envelope:
    return talks.negotiation.encrypted(talks.ukraine.head, "message", {"text": "our next point"},
                                       readers=[talks.ukraine.head], parties=[talks.ukraine.id],
                                       prev=prefix[-1].event_id)


def test_own_event_is_appended_from_its_acknowledgement(talks):
    log = talks.verified(len(talks.log))
    mine = _next_message(talks, talks.log)
    envelopes = [*talks.log, mine]
    batch = log.accept_ack(mine, _ack(talks, envelopes, len(talks.log)))
    assert batch is not None and [e.envelope.event_id for e in batch.events] == [mine.event_id]
    assert log.size == len(envelopes) and log.state.head == mine.event_id
    assert merkle.root_from_nodes(log.size, log.nodes) == merkle.root_from_nodes(len(envelopes), talks.tree(envelopes))


def test_acknowledgement_in_a_forked_tree_is_refused(talks):
    """The relay proves our event is in a tree whose earlier entries are not the ones we verified."""
    log = talks.verified(len(talks.log))
    mine = _next_message(talks, talks.log)
    forked = [*talks.log[:-1], talks.log[-2], mine]  # same size, another entry before ours
    with pytest.raises(ForkError, match="not the verified tree plus the posted event"):
        log.accept_ack(mine, _ack(talks, forked, len(talks.log)))


def test_acknowledgement_of_another_event_is_refused(talks):
    log = talks.verified(len(talks.log))
    mine = _next_message(talks, talks.log)
    envelopes = [*talks.log, mine]
    with pytest.raises(VerificationError, match="acknowledged another event"):
        log.accept_ack(mine, _ack(talks, envelopes, len(talks.log), event_id="0" * 64))


def test_acknowledgement_with_a_bad_inclusion_proof_is_refused(talks):
    log = talks.verified(len(talks.log))
    mine = _next_message(talks, talks.log)
    ack = _ack(talks, [*talks.log, mine], len(talks.log))
    with pytest.raises(ProofError):
        log.accept_ack(mine, Acknowledgement(**{**ack.__dict__, "inclusion_proof": (bytes(32), *ack.inclusion_proof[1:])}))


def test_acknowledgement_after_others_posted_asks_for_a_listing(talks):
    log = talks.verified(len(talks.log) - 2)
    mine = _next_message(talks, talks.log)
    envelopes = [*talks.log, mine]
    assert log.accept_ack(mine, _ack(talks, envelopes, len(talks.log))) is None
    assert log.size == len(talks.log) - 2  # nothing appended: the next listing takes all three


def test_malformed_acknowledgement_is_refused():
    with pytest.raises(VerificationError, match="malformed"):
        Acknowledgement.from_answer({"seq": "1", "event_id": "x", "size": 2, "checkpoint": "n",
                                     "inclusion_proof": []})
    with pytest.raises(VerificationError, match="malformed"):
        Acknowledgement.from_answer({"seq": 1, "event_id": "x", "size": 2, "checkpoint": "n",
                                     "inclusion_proof": ["not base64!"]})


def test_a_refused_event_leaves_the_state_to_be_dropped(talks):
    """A step that raises leaves the log half-grown: callers drop it (this documents why)."""
    log = talks.verified(3)
    note = talks.note(talks.log)
    log.update(log.open_checkpoint(note), note, talks.consistency(talks.log, 3))
    with pytest.raises(ProtocolError):
        log.extend(talks.items([talks.log[4], talks.log[3]], 3))
    assert isinstance(log.state, NegotiationState)
