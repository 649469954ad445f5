"""Threats of DESIGN section 9 where the relay itself is the attacker.

Each test drives a client through ``MaliciousRelay`` (see ``malicious_relay.py``):
a compromised relay that holds the checkpoint signing key, so it can re-sign
whatever log it wants to show. Every test asserts the exact error class, that
its message names what was detected, and that the client stored nothing it was
served (local cache unchanged).
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta

import httpx
import pytest
from malicious_relay import (
    EventItem,
    MaliciousRelay,
    edit_event,
    event_id_of,
    flip,
    swapped,
    use_transport,
    without,
)
from sqlalchemy import text

from parley.client.sdk import Client, verify_log
from parley.client.transport import RelayConnection
from parley.client.witness import cosign, require_witnessed, witness_status
from parley.crypto.canonical import canonical_bytes, sign_canonical
from parley.crypto.fingerprint import fingerprint_digits
from parley.crypto.keys import EncryptionKey, SigningKey, new_nonce
from parley.crypto.seal import seal_padded
from parley.errors import (
    ForkError,
    NotWitnessedError,
    ProofError,
    ProtocolError,
    RelayRefusal,
    RollbackError,
    SignatureError,
    TransportError,
    TrustError,
    VerificationError,
)
from parley.protocol.events import Audience, Envelope, Header, build_header, make_body, sign_header
from parley.protocol.identity import MemberCertificate, PartyRecord
from parley.protocol.state import MEMBER_ADD
from parley.protocol.times import format_time, parse_time
from parley.relay.ingest import envelope_from_stored
from parley.store.cosignatures import add_cosignature, cosignatures


# ---- helpers ----------------------------------------------------------------------------------------------
def snapshot(client: Client, nid: str) -> tuple:
    cache = client.cache
    return cache.last_seq(nid), cache.checkpoint(nid), [e[1] for e in cache.events(nid)]


@contextmanager
def detected(cls: type[VerificationError], match: str) -> Iterator[None]:
    """Exactly ``cls`` (not merely a subclass or the base), with a message matching ``match``."""
    with pytest.raises(VerificationError, match=match) as info:
        yield
    assert type(info.value) is cls, f"expected {cls.__name__}, got {type(info.value).__name__}: {info.value}"


def refused(client: Client, nid: str, evil: MaliciousRelay, cls: type[VerificationError], match: str) -> None:
    """``client.sync`` must refuse what the relay serves, and keep its local copy as it was."""
    before = snapshot(client, nid)
    fired = len(evil.fired)
    with detected(cls, match):
        client.sync(nid)
    assert len(evil.fired) > fired, "the attack never happened: the test would pass vacuously"
    assert snapshot(client, nid) == before, "the client stored data the relay tampered with"


def item_of(items: list[EventItem], event_id: str) -> EventItem:
    return next(i for i in items if event_id_of(i) == event_id)


def stale_post(client: Client, nid: str, text_: str, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    """Post without syncing first: an event concurrent with whatever the relay got meanwhile."""
    with monkeypatch.context() as patch:
        patch.setattr(client, "sync_state", client.state)
        return client.send_message(nid, text_)


# ---- drop ------------------------------------------------------------------------------------------------
def test_relay_drops_an_event_is_detected(trio, compromise):
    nid, swiss = trio.nid, trio.swiss
    evil = compromise(swiss)
    m1 = trio.ukraine.send_message(nid, "Position on issue 1.")
    m2 = trio.ukraine.send_message(nid, "Position on issue 2.")
    m3 = trio.ukraine.send_message(nid, "Position on issue 3.")

    # A lazy relay leaves one event out of the listing: the sequence numbers have a gap.
    evil.events = lambda items: [i for i in items if i["seq"] != m2.seq]
    refused(swiss, nid, evil, VerificationError, rf"skipped event {m2.seq} \(served {m3.seq}\): a dropped event")
    # ... or leaves out the newest one: the listing stops short of its own signed checkpoint.
    evil.events = lambda items: [i for i in items if i["seq"] != m3.seq]
    refused(swiss, nid, evil, VerificationError,
            rf"checkpoint covers {m3.seq + 1} events but it served only {m3.seq}: events were dropped")

    # The relay re-signs a checkpoint over the log without m2: m3 names m2 as the event it follows.
    evil.honest()
    evil.forge = without(m2.event_id)
    refused(swiss, nid, evil, ProtocolError, r"does not name an earlier event of this log as seen \(prev\)")

    # A reader that already verified m1..m3: the log without m2 is not an extension of what it pinned.
    evil.honest()
    swiss.sync(nid)
    assert [m["content"]["text"] for m in swiss.messages(nid)][-3:] == [
        "Position on issue 1.", "Position on issue 2.", "Position on issue 3."]
    trio.ukraine.send_message(nid, "Position on issue 4.")
    evil.forge = without(m2.event_id)  # same size as the pinned checkpoint, another root
    refused(swiss, nid, evil, ForkError, r"relay showed two different histories of log .* at size")
    trio.ukraine.send_message(nid, "Position on issue 5.")  # larger: the consistency proof cannot exist
    refused(swiss, nid, evil, ForkError, r"not an extension of the one verified before")
    evil.honest()
    assert swiss.sync(nid).new_events == 2
    assert m1.seq < m2.seq < m3.seq


def test_relay_drops_an_event_is_detected_by_gossip_once_the_talks_go_on(trio, compromise):
    """Hiding the newest event, with a re-signed log, cannot be seen at once (a relay may always be late).

    It is caught as soon as the author posts again: the author's next event
    carries the checkpoint it verified, which covers the hidden event.
    """
    nid, swiss = trio.nid, trio.swiss
    evil = compromise(swiss)
    hidden = trio.ukraine.send_message(nid, "Confidential concession on issue 2.")
    evil.forge = without(hidden.event_id)
    assert swiss.sync(nid).new_events == 0  # honest limit: nothing to see yet
    assert "forge" in evil.fired
    # The mediator replies (the relay acknowledges inside its forged log, with a valid inclusion proof).
    reply = swiss.send_message(nid, "Noted; awaiting your positions.")
    assert evil.fired[-1] == "forge"
    # Ukraine, shown the true log, answers; its event carries its checkpoint, which includes `hidden`.
    trio.ukraine.sync(nid)
    assert [m["content"]["text"] for m in trio.ukraine.messages(nid)][-1] == "Noted; awaiting your positions."
    trio.ukraine.send_message(nid, "Did you read our concession?")
    refused(swiss, nid, evil, ForkError,
            r"Head of delegation verified a different history at size \d+: the relay forked the log between parties")
    assert reply.seq >= 0


# ---- reorder -----------------------------------------------------------------------------------------------
def test_relay_reorders_two_events_is_detected(trio, compromise, monkeypatch):
    nid, swiss = trio.nid, trio.swiss
    evil = compromise(swiss)
    u1 = trio.ukraine.send_message(nid, "Ukraine: draft article 1.")
    r1 = stale_post(trio.russia, nid, "Russia: draft article 1.", monkeypatch)  # concurrent with u1
    u2 = trio.ukraine.send_message(nid, "Ukraine: comments on both drafts.")  # follows r1, gossips u1+r1
    assert u1.seq + 1 == r1.seq and r1.seq + 1 == u2.seq

    # Listing order changed, checkpoint left alone: the recomputed Merkle root differs.
    evil.events = swapped(u1.event_id, r1.event_id)
    refused(swiss, nid, evil, ForkError,
            r"do not hash to its signed checkpoint: an event was rewritten, reordered or replaced")

    # Re-signed over the reordered log: an event cannot come before the one it follows.
    evil.honest()
    evil.forge = swapped(r1.event_id, u2.event_id)
    refused(swiss, nid, evil, ProtocolError, r"does not name an earlier event of this log as seen \(prev\)")

    # Re-signed reorder of two concurrent events: valid on its face, but u2 carries Ukraine's checkpoint.
    evil.forge = swapped(u1.event_id, r1.event_id)
    refused(swiss, nid, evil, ForkError, r"verified a different history at size \d+: the relay forked the log")

    # A reader that already verified the true order: same size, another root.
    evil.honest()
    swiss.sync(nid)
    evil.forge = swapped(u1.event_id, r1.event_id)
    refused(swiss, nid, evil, ForkError, r"relay showed two different histories of log .* at size")


def test_a_bad_later_page_of_a_multi_page_sync_stores_nothing_from_the_earlier_pages(trio, compromise, monkeypatch):
    """A sync stores page by page inside one transaction: whatever fails on a later page (a root that does not
    match the signed checkpoint, a rewritten event, a connection that drops) rolls back the earlier pages."""
    nid, swiss = trio.nid, trio.swiss
    evil = compromise(swiss)
    swiss.limits = replace(swiss.limits, max_page_events=2)
    for n in range(4):
        trio.ukraine.send_message(nid, f"Position on issue {n}.")
    u1 = trio.ukraine.send_message(nid, "Ukraine: draft article 1.")
    r1 = stale_post(trio.russia, nid, "Russia: draft article 1.", monkeypatch)  # concurrent with u1
    assert u1.seq + 1 == r1.seq
    pages: list[list[int]] = []

    def on_the_last_page(attack):  # noqa: ANN001, ANN202
        def rewrite(items: list[EventItem]) -> list[EventItem]:
            pages.append([i["seq"] for i in items])
            return attack(items) if any(event_id_of(i) == r1.event_id for i in items) else items
        return rewrite

    # Every event valid on its own, the last page reordered: only the final root check sees it.
    evil.events = on_the_last_page(swapped(u1.event_id, r1.event_id))
    refused(swiss, nid, evil, ForkError,
            r"do not hash to its signed checkpoint: an event was rewritten, reordered or replaced")
    assert len(pages) >= 3 and pages[-1] == [u1.seq, r1.seq], pages  # earlier pages were fed (and rolled back)

    # A rewritten ciphertext on the last page: refused there, the earlier pages gone with it.
    pages.clear()

    def rewrite_body(event: dict) -> None:
        event["ciphertexts"][0] = flip(event["ciphertexts"][0])

    evil.events = on_the_last_page(edit_event(r1.event_id, rewrite_body))
    refused(swiss, nid, evil, ProtocolError, r"does not match the digest its author signed")
    assert len(pages) >= 3

    # The connection drops before the last page: nothing of the pages before it is kept either.
    pages.clear()

    def drop(items: list[EventItem]) -> list[EventItem]:
        raise httpx.ConnectError("connection reset")

    before = snapshot(swiss, nid)
    evil.events = on_the_last_page(drop)
    with pytest.raises(TransportError):
        swiss.sync(nid)
    assert len(pages) >= 3 and snapshot(swiss, nid) == before

    evil.honest()
    assert swiss.sync(nid).new_events == r1.seq - before[0]
    assert [m["content"]["text"] for m in swiss.messages(nid)][-2:] == [
        "Ukraine: draft article 1.", "Russia: draft article 1."]


def test_relay_reorders_two_events_is_detected_when_the_true_log_is_shown_later(trio, compromise, monkeypatch):
    """Honest limit: a reorder of two concurrent events, shown before anyone posts after them, is accepted.

    The reader then holds a history the other parties never saw; the first
    time it is shown the true log, the consistency proof cannot exist.
    """
    nid, swiss = trio.nid, trio.swiss
    evil = compromise(swiss)
    u1 = trio.ukraine.send_message(nid, "Ukraine: draft article 1.")
    r1 = stale_post(trio.russia, nid, "Russia: draft article 1.", monkeypatch)
    evil.forge = swapped(u1.event_id, r1.event_id)
    swiss.sync(nid)  # not detectable yet: either order is a valid log
    assert [m["party"] for m in swiss.messages(nid)] == ["Russian Federation", "Ukraine"]
    evil.honest()
    trio.ukraine.send_message(nid, "Ukraine: comments on both drafts.")
    before = snapshot(swiss, nid)
    with detected(ForkError, r"not an extension of the one verified before"):
        swiss.sync(nid)
    assert snapshot(swiss, nid) == before


# ---- rewrite ---------------------------------------------------------------------------------------------
def test_relay_rewrites_a_ciphertext_is_detected(trio, compromise):
    nid, swiss = trio.nid, trio.swiss
    evil = compromise(swiss)
    other = trio.russia.send_message(nid, "Russia: we need more time.")
    target = trio.ukraine.send_message(nid, "Ukraine: we accept article 4.")

    def relay_writes_its_own_body(event: dict) -> None:
        # The relay knows the cleartext header and the reader's public age key: it can encrypt a well-formed,
        # correctly bound body to the reader. Only the digest the author signed gives it away.
        header = Header.from_obj(event["header"])
        blob = seal_padded(make_body("message", {"text": "Ukraine: we reject article 4."}, header),
                    [swiss.identity.certificate.encryption_key])
        event["ciphertexts"][0] = base64.b64encode(blob).decode()

    evil.events = edit_event(target.event_id, relay_writes_its_own_body)
    refused(swiss, nid, evil, ProtocolError, r"ciphertext 0 does not match the digest its author signed \(rewritten\)")

    # The same with a re-signed checkpoint (the leaf commits to the digest, so the tree need not change).
    evil.honest()
    evil.forge = edit_event(target.event_id, relay_writes_its_own_body)
    refused(swiss, nid, evil, ProtocolError, r"does not match the digest its author signed \(rewritten\)")

    # Moving another event's genuine ciphertext in: same digest check.
    def moved(items: list[EventItem]) -> list[EventItem]:
        item_of(items, target.event_id)["event"]["ciphertexts"] = item_of(items, other.event_id)["event"]["ciphertexts"]
        return items

    evil.honest()
    evil.events = moved
    refused(swiss, nid, evil, ProtocolError, r"does not match the digest its author signed \(rewritten\)")

    # ... and if the relay also rewrites the digest in the header, the author's signature breaks.
    def moved_with_digest(items: list[EventItem]) -> list[EventItem]:
        source, victim = item_of(items, other.event_id)["event"], item_of(items, target.event_id)["event"]
        victim["ciphertexts"] = source["ciphertexts"]
        victim["header"]["ciphertexts"] = source["header"]["ciphertexts"]
        return items

    evil.honest()
    evil.forge = moved_with_digest
    refused(swiss, nid, evil, SignatureError, r"signature verification failed")
    evil.honest()
    swiss.sync(nid)
    assert swiss.messages(nid)[-1]["content"] == {"text": "Ukraine: we accept article 4."}


def test_relay_rewrites_a_header_is_detected(trio, compromise):
    nid, swiss = trio.nid, trio.swiss
    evil = compromise(swiss)
    target = trio.ukraine.send_message(nid, "Ukraine: our red lines.")

    def later(event: dict) -> None:
        created = parse_time(event["header"]["created"])
        event["header"]["created"] = format_time(created + timedelta(minutes=5))

    def narrower(event: dict) -> None:  # pretend the event was not meant for Russia
        event["header"]["audience"]["parties"] = sorted(
            p for p in event["header"]["audience"]["parties"] if p != trio.russia.profile.party.party_id)

    def checkpoint_erased(event: dict) -> None:  # hide the author's gossip checkpoint
        event["header"]["checkpoint"] = None

    for change in (later, narrower, checkpoint_erased):
        evil.honest()
        evil.events = edit_event(target.event_id, change)
        refused(swiss, nid, evil, SignatureError, r"signature verification failed")
        evil.honest()
        evil.forge = edit_event(target.event_id, change)  # re-signing the checkpoint does not help
        refused(swiss, nid, evil, SignatureError, r"signature verification failed")
    evil.honest()
    swiss.sync(nid)
    assert swiss.messages(nid)[-1]["content"] == {"text": "Ukraine: our red lines."}


# ---- replay ----------------------------------------------------------------------------------------------
def test_relay_replays_an_old_event_is_detected(trio, compromise):
    nid, swiss = trio.nid, trio.swiss
    evil = compromise(swiss)
    old = trio.ukraine.send_message(nid, "Ukraine: we accept the venue.")
    swiss.sync(nid)  # the reader has seen it
    trio.ukraine.send_message(nid, "Ukraine: dates to follow.")

    # Served again as a new event at the end of a re-signed log: the log is a valid extension, but the
    # event is already in it.
    def replayed(items: list[EventItem]) -> list[EventItem]:
        return [*items, copy.deepcopy(item_of(items, old.event_id))]

    evil.forge = replayed
    refused(swiss, nid, evil, ProtocolError, rf"event {old.event_id[:12]} is already in the log \(replayed event\)")
    # In place of the newest event, without re-signing.
    evil.honest()
    evil.events = lambda items: [{**item_of(evil.full_log(nid), old.event_id), "seq": items[-1]["seq"]}]
    refused(swiss, nid, evil, ProtocolError, r"already in the log \(replayed event\)")


# ---- rollback --------------------------------------------------------------------------------------------
def test_relay_rolls_back_the_tree_is_detected(trio, compromise):
    nid, swiss = trio.nid, trio.swiss
    evil = compromise(swiss)
    earlier = swiss.sync(nid)
    old_note = evil.notes[-1]
    trio.ukraine.send_message(nid, "Ukraine: proposal A.")
    trio.russia.send_message(nid, "Russia: proposal B.")
    latest = swiss.sync(nid)
    assert latest.size == earlier.size + 2

    # An older checkpoint the relay really signed, served after the client verified a newer one.
    evil.old_checkpoint = old_note
    refused(swiss, nid, evil, RollbackError,
            rf"relay rolled back log .* from {latest.size} to {earlier.size} entries")
    # A freshly signed checkpoint over a truncated tree.
    evil.honest()
    evil.forge = lambda items: items[:-1]
    refused(swiss, nid, evil, RollbackError,
            rf"relay rolled back log .* from {latest.size} to {latest.size - 1} entries")


# ---- fork ------------------------------------------------------------------------------------------------
def copy_event(source, nid: str, seq: int, author: Client, target_transport) -> None:  # noqa: ANN001
    """The operator copies one stored event (all ciphertexts) into the other relay's log.

    A compromised operator would write it into the database directly; posting it
    through the API with a request signed by the author's key is the shortcut.
    """
    row = source.store.events(nid, seq - 1, 1, reader=None)[0]
    envelope = envelope_from_stored(row, source.limits)
    conn = RelayConnection("http://relay", author.identity.signing, transport=target_transport)
    try:
        conn.post(f"/v1/negotiations/{nid}/events", raw=envelope.to_json())
    finally:
        conn.close()


def test_relay_forks_the_log_between_two_parties_is_detected(world, fork_relay):
    ukraine, russia = world.party("Ukraine"), world.party("Russian Federation")
    nid = world.negotiation(ukraine, russia)
    ukraine.send_message(nid, "Ukraine: opening statement.")
    russia.sync(nid)
    common = russia.cache.last_seq(nid) + 1

    # The relay operator starts a second relay process with the same checkpoint key from the same data,
    # and sends Russia's client there: from now on each party sees its own history.
    second = fork_relay()
    use_transport(russia, second.transport)

    hidden = ukraine.send_message(nid, "Ukraine: concession on issue 3, if Russia moves on issue 1.")
    r1 = russia.send_message(nid, "Russia: our position on issue 1 is unchanged.")
    assert hidden.seq == r1.seq == common
    # To keep the talks flowing the operator copies Russia's message into Ukraine's log (after `hidden`)...
    copy_event(second.relay, nid, r1.seq, russia, world.transport)
    ukraine.sync(nid)
    assert [m["party"] for m in ukraine.messages(nid)][-2:] == ["Ukraine", "Russian Federation"]
    # ... and Ukraine's answer into Russia's log. It follows r1, so it is valid there, but it carries the
    # checkpoint Ukraine verified, which includes `hidden`.
    answer = ukraine.send_message(nid, "Ukraine: then we withdraw the concession.")
    copy_event(world.relay, nid, answer.seq, ukraine, second.transport)

    before = snapshot(russia, nid)
    with detected(ForkError, r"Head of delegation verified a different history at size "
                             rf"{common + 2}: the relay forked the log between parties"):
        russia.sync(nid)
    assert snapshot(russia, nid) == before
    assert russia.cache.last_seq(nid) == common  # never stored Ukraine's answer

    # The same client shown the other branch: its pinned checkpoint is not a prefix of it.
    use_transport(russia, world.transport)
    with detected(ForkError, rf"not an extension of the one verified before \(size {common + 1} -> {common + 3}\)"):
        russia.sync(nid)
    assert snapshot(russia, nid) == before

    # And Ukraine, shown Russia's branch (one event shorter than what it verified): a rollback.
    ukraine_before = snapshot(ukraine, nid)
    use_transport(ukraine, second.transport)
    with detected(RollbackError, rf"from {common + 3} to {common + 2} entries"):
        ukraine.sync(nid)
    assert snapshot(ukraine, nid) == ukraine_before


def test_relay_forks_the_log_between_two_parties_is_detected_at_equal_size(world, fork_relay):
    """Two branches of the same length: a party shown the other one sees one size, two roots."""
    ukraine, russia = world.party("Ukraine"), world.party("Russian Federation")
    nid = world.negotiation(ukraine, russia)
    second = fork_relay()
    ukraine.send_message(nid, "Ukraine: branch one.")
    use_transport(russia, second.transport)
    russia.send_message(nid, "Russia: branch two.")
    assert ukraine.cache.checkpoint(nid)[0] == russia.cache.checkpoint(nid)[0]
    before = snapshot(russia, nid)
    use_transport(russia, world.transport)
    with detected(ForkError, r"relay showed two different histories of log .* at size"):
        russia.sync(nid)
    assert snapshot(russia, nid) == before


def _copy_cosignatures(source, target, nid: str) -> int:  # noqa: ANN001
    """The operator of both relays copies every cosignature one holds into the other's database."""
    rows = cosignatures(source.store, nid)
    for row in rows:
        add_cosignature(target.store, nid, size=row.size, device_key_id=row.device_key_id, party_id=row.party_id,
                        timestamp=row.timestamp, line=row.line, received_at=row.received_at)
    return len(rows)


def test_relay_forking_two_parties_never_collects_a_full_set_of_cosignatures(world, fork_relay):
    """Each party cosigns the branch it was shown; the relay holds both branches' cosignatures and serves
    every one to each party, yet neither branch is ever final under an all-parties policy."""
    ukraine, russia = world.party("Ukraine"), world.party("Russian Federation")
    nid = world.negotiation(ukraine, russia)
    common = ukraine.cache.checkpoint(nid)[0]
    for client in (ukraine, russia):
        cosign(client, nid)
    assert require_witnessed(ukraine, nid, "all").final  # before the fork, both saw and cosigned the same log
    second = fork_relay()
    use_transport(russia, second.transport)
    ukraine.send_message(nid, "Ukraine: branch one.")
    russia.send_message(nid, "Russia: branch two.")
    ukraine.send_message(nid, "Ukraine: branch one goes on.")  # carries Ukraine's cosignature of branch one
    for client in (ukraine, russia):
        cosign(client, nid)  # each witnesses the whole branch it was shown
    assert _copy_cosignatures(second.relay, world.relay, nid) > 0
    assert _copy_cosignatures(world.relay, second.relay, nid) > 0
    ukraine_party, russia_party = ukraine.profile.party.party_id, russia.profile.party.party_id
    served = {row.device_key_id for row in cosignatures(world.relay.store, nid) if row.size > common}
    assert russia.identity.device_key_id in served, "the other branch's cosignatures were never served"

    for client, own, other in ((ukraine, ukraine_party, russia_party), (russia, russia_party, ukraine_party)):
        status = witness_status(client, nid, "all")
        assert status.size > common and not status.final
        assert status.witnessed[own] == status.size
        assert status.witnessed[other] == common  # only the common prefix carries the other party's cosignature
        assert status.final_size == common
        with pytest.raises(NotWitnessedError, match="cosigned by 1 of 2 parties"):
            require_witnessed(client, nid, "all")


# ---- refusals ----------------------------------------------------------------------------------------------
def test_relay_claiming_a_fork_is_a_relay_refusal_not_a_detected_fork(trio, compromise):
    """A relay that answers "fork" states something about what the client sent; only what the client checks
    itself may say the relay forked the log. The two must not look alike (class and exit code)."""
    nid, swiss = trio.nid, trio.swiss
    evil = compromise(swiss)
    swiss.sync(nid)
    before = snapshot(swiss, nid)
    evil.refuse = ("ack", 422, "fork", "the log forked")
    with pytest.raises(RelayRefusal, match="the log forked") as refusal:
        swiss.send_message(nid, "Switzerland: a message the relay turns away.")
    assert refusal.value.relay_code == "fork" and not isinstance(refusal.value, VerificationError)
    assert evil.fired[-1] == "refuse" and snapshot(swiss, nid) == before

    # A fork the client detects itself: a ForkError, exit code 4, never a refusal.
    evil.honest()
    trio.ukraine.send_message(nid, "Ukraine: point 1.")
    seen = trio.ukraine.send_message(nid, "Ukraine: point 2.")
    swiss.sync(nid)
    trio.ukraine.send_message(nid, "Ukraine: point 3.")
    evil.forge = without(seen.event_id)
    with detected(ForkError, r"relay showed two different histories"):
        swiss.sync(nid)
    assert ForkError.exit_code == 4 and RelayRefusal.exit_code not in (4, TransportError.exit_code)


# ---- proofs ------------------------------------------------------------------------------------------------
def test_relay_serves_a_bad_inclusion_proof_is_detected(trio, compromise):
    nid, ukraine = trio.nid, trio.ukraine
    evil = compromise(ukraine)
    ukraine.sync(nid)
    note_before = evil.notes[-1]
    size_before = ukraine.cache.checkpoint(nid)[0]

    def posting_refused(cls: type[VerificationError], match: str) -> None:
        ukraine.sync(nid)  # takes in the previous (refused but really logged) post first
        before = snapshot(ukraine, nid)
        with detected(cls, match):
            ukraine.send_message(nid, "Ukraine: a message the relay lies about.")
        assert snapshot(ukraine, nid) == before

    evil.ack = lambda a: {**a, "inclusion_proof": [flip(a["inclusion_proof"][0]), *a["inclusion_proof"][1:]]}
    posting_refused(ProofError, r"inclusion proof for leaf \d+ does not lead to the root of the tree of \d+ leaves")
    evil.ack = lambda a: {**a, "inclusion_proof": a["inclusion_proof"][:-1]}
    posting_refused(ProofError, r"inclusion proof for leaf \d+ of \d+ must have \d+ hashes")
    # "Accepted", with the old checkpoint: the event is not in the log the relay signed.
    evil.ack = lambda a: {**a, "checkpoint": note_before, "size": size_before}
    posting_refused(ProofError, rf"leaf index \d+ is not inside a tree of {size_before} leaves")
    # Acknowledging another event than the one posted.
    evil.ack = lambda a: {**a, "event_id": "0" * 64}
    posting_refused(VerificationError, r"acknowledged another event than the one posted")
    evil.honest()
    assert ukraine.sync(nid).new_events == 1  # the relay did log it: the client takes it only once verified
    assert len(ukraine.messages(nid)) == 4


def test_relay_serves_a_bad_consistency_proof_is_detected(trio, compromise):
    nid, swiss = trio.nid, trio.swiss
    evil = compromise(swiss)
    for n in range(3):
        trio.ukraine.send_message(nid, f"Ukraine: point {n}.")
    evil.consistency = lambda a: {**a, "proof": [flip(a["proof"][0]), *a["proof"][1:]]}
    refused(swiss, nid, evil, ForkError, r"not an extension of the one verified before")
    evil.consistency = lambda a: {**a, "proof": a["proof"][:-1]}
    refused(swiss, nid, evil, ForkError, r"not an extension of the one verified before")
    evil.consistency = lambda a: {**a, "proof": []}
    refused(swiss, nid, evil, ForkError, r"not an extension of the one verified before")
    evil.honest()
    assert swiss.sync(nid).new_events == 3


# ---- withholding -------------------------------------------------------------------------------------------
def withhold_from(reader: str, event_id: str):  # noqa: ANN201
    def change(event: dict) -> None:
        for index, ref in enumerate(event["header"]["ciphertexts"]):
            if reader in ref["recipients"]:
                event["ciphertexts"][index] = None

    return edit_event(event_id, change)


def test_relay_withholds_a_ciphertext_addressed_to_the_reader_is_detected(trio, compromise):
    nid, swiss = trio.nid, trio.swiss
    evil = compromise(swiss)
    me = swiss.identity.device_key_id
    shared = trio.ukraine.send_message(nid, "Ukraine: memorandum for all parties.")
    evil.events = withhold_from(me, shared.event_id)
    refused(swiss, nid, evil, ProtocolError, r"the relay withheld a ciphertext addressed to this device")
    # Per-recipient copies (leak tracing): the reader's own copy withheld.
    evil.honest()
    swiss.sync(nid)
    traced = trio.ukraine.post(nid, "message", None, copies=lambda cert: {"text": f"Memorandum, copy of {cert.member}"})
    evil.events = withhold_from(me, traced.event_id)
    refused(swiss, nid, evil, ProtocolError, r"the relay withheld a ciphertext addressed to this device")
    evil.honest()
    swiss.sync(nid)
    assert swiss.messages(nid)[-1]["content"] == {"text": "Memorandum, copy of Head of delegation"}


# ---- directory ---------------------------------------------------------------------------------------------
def test_relay_swaps_a_party_root_key_in_the_directory_is_detected(trio, compromise):
    russia, ukraine = trio.russia, trio.ukraine
    real = ukraine.profile.party
    evil = compromise(russia)
    impostor_root = SigningKey.generate()
    impostor = PartyRecord.create(impostor_root, real.name)

    def refused_fetch(match: str) -> None:
        with detected(TrustError, match):
            russia.fetch_party(real.party_id)

    # The party's id with the impostor's root key (self-signed by the impostor).
    def same_id_new_root(answer: dict) -> dict:
        part = {**answer["party"], "root_key": impostor_root.public_b64}
        part.pop("signature")
        return {**answer, "party": {**part, "signature": sign_canonical(impostor_root, part)}}

    evil.party = same_id_new_root
    refused_fetch(r"party record for 'Ukraine': party id does not match its root key")
    # The impostor's own, self-consistent record under the same name.
    evil.party = lambda answer: {**answer, "party": impostor.to_obj()}
    refused_fetch(r"the relay answered with another party")

    # The genuine record, plus a device certificate the party never issued (the relay injects a member).
    def injected_device(answer: dict) -> dict:
        device = SigningKey.generate()
        cert = MemberCertificate.issue(impostor_root, member="Relay's spy", role="head",
                                       signing_key=device.public_b64,
                                       encryption_key=EncryptionKey.generate().recipient,
                                       not_before=trio.russia.clock() - timedelta(minutes=1),
                                       not_after=trio.russia.clock() + timedelta(days=1))
        obj = {**cert.to_obj(), "party_id": real.party_id}
        obj.pop("signature")
        obj["signature"] = sign_canonical(impostor_root, obj)
        return {**answer, "devices": [*answer["devices"], {"certificate": obj, "revoked_at": None}]}

    evil.party = injected_device
    refused_fetch(r"certificate of 'Relay's spy' is not signed by the party root: a key the party did not issue")
    evil.honest()
    assert russia.fetch_party(real.party_id)[0] == real

    # The directory listing offers the impostor under the real name: the out-of-band fingerprint check fails.
    evil.parties = lambda answer: {"parties": [impostor.to_obj() if p["party_id"] == real.party_id else p
                                               for p in answer["parties"]]}
    evil.party = lambda answer: {**answer, "party": impostor.to_obj(), "devices": []}
    found = russia.find_party("Ukraine")
    assert found.party_id == impostor.party_id
    with detected(TrustError, r"the fingerprint of 'Ukraine' does NOT match: do not trust this key"):
        russia.trust_party(found.party_id, fingerprint_digits(real.root_key))
    # The fingerprint is compared before pinning: the impostor is not remembered at all.
    assert impostor.party_id not in russia.profile.trust
    assert russia.profile.trust[real.party_id].root_key == real.root_key


# ---- injection ---------------------------------------------------------------------------------------------
def test_relay_injects_a_member_is_detected(trio, compromise):
    nid, swiss = trio.nid, trio.swiss
    evil = compromise(swiss)
    spy_key = SigningKey.generate()
    impostor_root = SigningKey.generate()
    cert = MemberCertificate.issue(impostor_root, member="Relay's spy", role="head", signing_key=spy_key.public_b64,
                                   encryption_key=EncryptionKey.generate().recipient,
                                   not_before=swiss.clock() - timedelta(minutes=1),
                                   not_after=swiss.clock() + timedelta(days=1))

    honest = evil.full_log(nid)
    last = honest[-1]["event"]["header"]

    def forged_event(author: str) -> EventItem:  # built once: a forge must show the same log every time
        header = build_header(nonce=new_nonce(), negotiation=nid, author=author, created=swiss.clock(),
                              audience=Audience(tuple(last["audience"]["parties"])), prev=event_id_of(honest[-1]),
                              public={"type": MEMBER_ADD, "content": {"certificate": cert.to_obj()}})
        envelope = Envelope(header, sign_header(spy_key, header), ())
        return {"seq": len(honest), "received_at": last["created"], "event": envelope.to_obj()}

    # A device the relay made up adds a member.
    spy_event = forged_event(spy_key.key_id)
    evil.forge = lambda items: [*items, spy_event]
    refused(swiss, nid, evil, ProtocolError, r"author is not a member of this negotiation \(unknown device key\)")
    # The same event in the name of Ukraine's head of delegation: the relay cannot sign for it.
    in_their_name = forged_event(trio.ukraine.identity.device_key_id)
    evil.forge = lambda items: [*items, in_their_name]
    refused(swiss, nid, evil, SignatureError, r"signature verification failed")


# ---- parley log verify ---------------------------------------------------------------------------------------
def rewrite_stored_header(world, nid: str, seq: int) -> None:  # noqa: ANN001
    """The relay operator edits one stored event in the database (a later "created" time)."""
    from parley.store.codec import pack_header, unpack_header

    with world.store.engine.begin() as conn:
        number = conn.execute(text("SELECT negotiation_no FROM negotiations WHERE negotiation_id=:n"),
                              {"n": nid}).scalar_one()
        row = conn.execute(text("SELECT header FROM events WHERE negotiation_no=:n AND seq=:s"),
                           {"n": number, "s": seq}).one()
        header = json.loads(unpack_header(row.header))
        header["created"] = format_time(parse_time(header["created"]) + timedelta(minutes=5))
        conn.execute(text("UPDATE events SET header=:h WHERE negotiation_no=:n AND seq=:s"),
                     {"h": pack_header(canonical_bytes(header)), "n": number, "s": seq})


def test_verify_log_on_an_honest_relay_says_verified(trio):
    nid = trio.nid
    trio.ukraine.send_message(nid, "Ukraine: first.")
    trio.russia.send_message(nid, "Russia: second.")
    result = verify_log(trio.swiss, nid)
    assert result["result"] == "verified"
    assert result["size"] == trio.swiss.cache.checkpoint(nid)[0] == trio.swiss.cache.last_seq(nid) + 1
    assert verify_log(trio.swiss, nid)["new_events"] == 0


def test_verify_log_detects_a_stored_event_rewritten_by_the_relay(world, trio):
    nid, swiss = trio.nid, trio.swiss
    seen = trio.ukraine.send_message(nid, "Ukraine: an event the mediator already holds.")
    assert verify_log(swiss, nid)["result"] == "verified"
    rewrite_stored_header(world, nid, seen.seq)
    before = snapshot(swiss, nid)
    with detected(ForkError, rf"serves a different event {seen.seq} than the one verified before"):
        verify_log(swiss, nid)
    assert snapshot(swiss, nid) == before


def test_verify_log_detects_a_rewritten_event_it_has_not_fetched_yet(world, trio):
    nid, swiss = trio.nid, trio.swiss
    assert verify_log(swiss, nid)["result"] == "verified"
    fresh = trio.ukraine.send_message(nid, "Ukraine: an event the mediator has not fetched yet.")
    rewrite_stored_header(world, nid, fresh.seq)
    before = snapshot(swiss, nid)
    with detected(SignatureError, r"signature verification failed"):
        verify_log(swiss, nid)
    assert snapshot(swiss, nid) == before


@pytest.mark.parametrize("body", [
    b"<html>not json", b'{"size": NaN}', b'{"size": 1e400}',
    b'{"text": "\\ud800"}', b"[" * 5000 + b"]" * 5000, b'{"a": 1', b"\xff\xfe",
], ids=["html", "nan", "infinite", "lone-surrogate", "deep-nesting", "truncated", "not-utf8"])
def test_relay_answering_something_else_than_json_gets_a_clear_error(body: bytes) -> None:
    """A broken or hostile relay answering 200 with a body that is not JSON, or JSON nothing parley signs could
    hold: a RelayError naming it, not a decoder's traceback."""
    import httpx

    from parley.errors import RelayError

    garbage = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    conn = RelayConnection("http://relay", SigningKey.generate(), transport=garbage)
    try:
        with pytest.raises(RelayError, match="not valid JSON"):
            conn.get("/v1/negotiations")
    finally:
        conn.close()
