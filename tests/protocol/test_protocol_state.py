"""NegotiationState.accept, the rule book: genesis, admission, membership, authority, audience, replay."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from protocol_builders import NOW, Negotiation, Party, snapshot

from parley.crypto.keys import EncryptionKey, SigningKey, new_nonce
from parley.errors import InputError, ParleyError, ProtocolError, SignatureError, TrustError
from parley.protocol.events import Audience, CiphertextRef, Envelope, build_header
from parley.protocol.identity import MemberCertificate, Revocation
from parley.protocol.state import (
    GENESIS,
    MEMBER_ADD,
    MEMBER_REMOVE,
    PARTY_JOIN,
    PUBLIC_STATEMENT,
    NegotiationState,
    derive_state,
)
from parley.settings import Limits

Parties = tuple[Party, Party, Party]


@pytest.fixture
def parties() -> tuple[Party, Party, Party]:
    """Three parties, each with a head; A also has a delegate."""
    a = Party.create("Ukraine")
    a.device("Delegate A", role="delegate")
    return a, Party.create("Russian Federation"), Party.create("Türkiye")


@pytest.fixture
def negotiation(parties: tuple[Party, Party, Party]) -> Negotiation:
    """A negotiation convened by A with B and C joined."""
    a, b, c = parties
    neg = Negotiation()
    neg.genesis(a)
    for other in (b, c):
        neg.invite(a.head, other)
        neg.join(other)
    return neg


def _rejects(neg: Negotiation, envelope: Envelope, error: type[Exception], match: str | None = None,
             **kw: Any) -> None:
    """``accept`` raises and leaves the state exactly as it was."""
    before = snapshot(neg.state)
    with pytest.raises(error, match=match):
        neg.state.accept(envelope, **kw)
    assert snapshot(neg.state) == before


# ---- genesis --------------------------------------------------------------------------------------

def test_genesis_makes_the_convener_joined(parties: Parties) -> None:
    a, _, _ = parties
    neg = Negotiation()
    env = neg.genesis(a)
    state = neg.state
    assert (state.size, state.head, state.event_index) == (1, env.event_id, {env.event_id: 0})
    assert state.joined_parties() == [a.id]
    assert set(state.members) == {d.id for d in a.devices}
    assert state.current_members(NOW) == sorted((d.cert for d in a.devices), key=lambda c: c.device_key_id)
    assert {c.device_key_id for c in state.current_members(NOW, roles=["head"])} == {a.head.id}


def test_first_event_must_be_genesis(parties: Parties) -> None:
    a, _, _ = parties
    neg = Negotiation()
    _rejects(neg, neg.public(a.head, PUBLIC_STATEMENT, {"text": "hi"}, parties=[a.id], prev=None,
                             authority="head"), ProtocolError, "must be its genesis")
    _rejects(neg, neg.encrypted(a.head, "message", {"text": "hi"}, readers=[a.head], parties=[a.id], prev=None),
             ProtocolError, "must be its genesis")


def test_genesis_rules(parties: Parties) -> None:
    a, b, _ = parties
    neg = Negotiation()
    _rejects(neg, neg.genesis_event(a, prev="ab" * 32), ProtocolError, "no previous event")
    # authored by a device that the genesis does not certify
    _rejects(neg, neg.public(b.head, GENESIS, {"party": a.record.to_obj(), "certificates": a.certificates()},
                             parties=[a.id], prev=None), ProtocolError, "certified in it")
    # audience must be exactly the convening party
    content = {"party": a.record.to_obj(), "certificates": a.certificates()}
    _rejects(neg, neg.public(a.head, GENESIS, content, parties=[a.id, b.id], prev=None), ProtocolError, "audience")
    # signed by another key than the author's
    _rejects(neg, neg.genesis_event(a, sign_with=b.head.signing), SignatureError)
    # a certificate of another party inside the convener's genesis
    bad = {"party": a.record.to_obj(), "certificates": [*a.certificates(), b.head.cert.to_obj()]}
    _rejects(neg, neg.public(a.head, GENESIS, bad, parties=[a.id], prev=None), TrustError)
    # malformed content
    _rejects(neg, neg.public(a.head, GENESIS, {"party": a.record.to_obj()}, parties=[a.id], prev=None), InputError)
    _rejects(neg, neg.public(a.head, GENESIS, {"party": a.record.to_obj(), "certificates": []}, parties=[a.id],
                             prev=None), InputError)
    twice = {"party": a.record.to_obj(), "certificates": a.certificates() * 2}
    _rejects(neg, neg.public(a.head, GENESIS, twice, parties=[a.id], prev=None), InputError, "certified twice")
    neg.genesis(a)
    assert neg.state.size == 1


def test_event_for_another_negotiation_is_rejected(parties: Parties) -> None:
    a, _, _ = parties
    neg = Negotiation()
    _rejects(neg, Negotiation("n-other").genesis_event(a), ProtocolError, "another negotiation")


def test_relay_injected_genesis_party_record_is_rejected(parties: Parties) -> None:
    a, _, _ = parties
    neg = Negotiation()
    record = {**a.record.to_obj(), "name": "Renamed by relay"}
    _rejects(neg, neg.public(a.head, GENESIS, {"party": record, "certificates": a.certificates()},
                             parties=[a.id], prev=None), TrustError)


# ---- invite and join ------------------------------------------------------------------------------

def test_invite_and_join(parties: Parties) -> None:
    a, b, c = parties
    neg = Negotiation()
    neg.genesis(a)
    neg.invite(a.head, b)
    assert neg.state.parties[b.id].status == "invited"
    assert neg.state.joined_parties() == [a.id]
    assert not neg.state.is_current_member(b.head.id, NOW)  # not in before joining
    neg.join(b)
    assert neg.state.joined_parties() == sorted([a.id, b.id])
    assert neg.state.is_current_member(b.head.id, NOW)
    # the newcomer may invite too, and members of both parties read the new event
    neg.invite(b.head, c)
    neg.join(c)
    assert neg.state.joined_parties() == sorted([a.id, b.id, c.id])
    assert neg.state.size == 5


def test_join_by_a_party_not_invited_is_rejected(parties: Parties) -> None:
    a, b, _ = parties
    neg = Negotiation()
    neg.genesis(a)
    _rejects(neg, neg.join_event(b), ProtocolError, "only an invited party can join")


def test_join_twice_is_rejected(negotiation: Negotiation, parties: Parties) -> None:
    _, b, _ = parties
    _rejects(negotiation, negotiation.join_event(b), ProtocolError, "only an invited party can join")


def test_invite_twice_is_rejected(negotiation: Negotiation, parties: Parties) -> None:
    a, b, _ = parties
    _rejects(negotiation, negotiation.invite_event(a.head, b), ProtocolError, "already invited or in")


def test_relay_injected_member_certificate_in_join_is_rejected(parties: Parties) -> None:
    a, b, _ = parties
    neg = Negotiation()
    neg.genesis(a)
    neg.invite(a.head, b)
    mole = b.device("Mole", role="head", issuer=SigningKey.generate())
    forged = {**mole.cert.to_obj(), "party_id": b.id}
    _rejects(neg, neg.join_event(b, certificates=[*b.certificates(), forged]), TrustError)
    swapped = {**b.head.cert.to_obj(), "encryption_key": mole.cert.encryption_key}
    _rejects(neg, neg.join_event(b, certificates=[swapped]), TrustError)


def test_joining_party_cannot_take_over_a_device_of_another_party(parties: Parties) -> None:
    """B's root certifies A's head's signing key with an encryption key B holds: a hijack of A's device."""
    a, b, _ = parties
    neg = Negotiation()
    neg.genesis(a)
    neg.invite(a.head, b)
    hijack = MemberCertificate.issue(
        b.root, member="A's head, re-certified by B", role="head", signing_key=a.head.signing.public_b64,
        encryption_key=EncryptionKey.generate().recipient, not_before=NOW - timedelta(hours=1),
        not_after=NOW + timedelta(days=30))
    _rejects(neg, neg.join_event(b, certificates=[*b.certificates(), hijack.to_obj()]), ProtocolError,
             "member of another party")
    assert neg.state.members[a.head.id] == a.head.cert
    neg.join(b)


def test_join_rules(parties: Parties) -> None:
    a, b, c = parties
    neg = Negotiation()
    neg.genesis(a)
    neg.invite(a.head, b)
    # certificates of two parties in one join
    _rejects(neg, neg.join_event(b, certificates=[*b.certificates(), c.head.cert.to_obj()]), ProtocolError,
             "exactly one party")
    # authored by a device not certified in the join (A's head joining on B's behalf)
    _rejects(neg, neg.join_event(b, author=a.head), ProtocolError, "certified in it")
    # signed with another key than the author's
    _rejects(neg, neg.join_event(b, sign_with=c.head.signing), SignatureError)
    # audience naming a party outside the negotiation
    bad = neg.public(b.head, PARTY_JOIN, {"certificates": b.certificates()}, parties=sorted([a.id, b.id, c.id]))
    _rejects(neg, bad, ProtocolError, "audience names a party")
    neg.join(b)


def test_hostile_join_content_raises_parley_errors(parties: Parties) -> None:
    a, b, _ = parties
    neg = Negotiation()
    neg.genesis(a)
    neg.invite(a.head, b)
    for certificates in ([{"party_id": []}], [{"party_id": {}}], "certs", [1, 2], []):
        env = neg.public(b.head, PARTY_JOIN, {"certificates": certificates}, parties=sorted([a.id, b.id]))
        _rejects(neg, env, ParleyError)


# ---- authorship -----------------------------------------------------------------------------------

def test_event_by_a_non_member_device_is_rejected(negotiation: Negotiation, parties: Parties) -> None:
    a, _, _ = parties
    outsider = Party.create("Outsider")
    env = negotiation.encrypted(outsider.head, "message", {"text": "hello"}, readers=[a.head], parties=[a.id])
    _rejects(negotiation, env, ProtocolError, "not a member")
    # a device certified by A's root but never added to the negotiation
    unknown = a.device("Unannounced")
    a.devices.remove(unknown)
    env = negotiation.encrypted(unknown, "message", {"text": "hello"}, readers=[a.head], parties=[a.id])
    _rejects(negotiation, env, ProtocolError, "not a member")


def test_event_signed_by_another_key_than_its_author_is_rejected(negotiation: Negotiation, parties: Parties) -> None:
    a, _, _ = parties
    env = negotiation.encrypted(a.head, "message", {"text": "hi"}, readers=[a.head], parties=[a.id],
                                sign_with=SigningKey.generate())
    _rejects(negotiation, env, SignatureError)


def test_claimed_signature_check_with_a_key_not_the_authors_is_not_trusted(negotiation: Negotiation,
                                                                            parties: Parties) -> None:
    """The attack: an event signed by another key, handed to the relay's writer as if a front process had
    checked it with that key. The writer skips its own check only for the author's key in its state."""
    a, _, _ = parties
    forger = SigningKey.generate()
    env = negotiation.encrypted(a.head, "message", {"text": "hi"}, readers=[a.head], parties=[a.id], sign_with=forger)
    _rejects(negotiation, env, SignatureError, verified_key=forger.public_b64)
    _rejects(negotiation, env, SignatureError, verified_key=None)


def test_checked_signature_and_committed_rows_still_follow_every_rule(negotiation: Negotiation,
                                                                     parties: Parties) -> None:
    """The two relay shortcuts skip the signature only; the rule book still applies (an outsider stays out)."""
    a, _, _ = parties
    outsider = Party.create("Outsider")
    env = negotiation.encrypted(outsider.head, "message", {"text": "hello"}, readers=[a.head], parties=[a.id])
    _rejects(negotiation, env, ProtocolError, "not a member", committed=True)
    _rejects(negotiation, env, ProtocolError, "not a member", verified_key=outsider.head.signing.public_b64)
    good = negotiation.encrypted(a.head, "message", {"text": "hi"}, readers=[a.head], parties=[a.id])
    size = negotiation.state.size
    negotiation.state.accept(good, verified_key=a.head.signing.public_b64)
    assert negotiation.state.size == size + 1


def test_member_posting_in_name_of_another_party_is_rejected(negotiation: Negotiation, parties: Parties) -> None:
    a, b, _ = parties
    # B's head claims to be A's head (author field) but can only sign with its own key.
    env = negotiation.encrypted(b.head, "message", {"text": "A accepts everything"}, readers=[a.head, b.head],
                                parties=[a.id, b.id], author_id=a.head.id)
    _rejects(negotiation, env, SignatureError)
    statement = negotiation.public(b.head, PUBLIC_STATEMENT, {"text": "A concedes"}, authority="head",
                                   parties=negotiation.state.joined_parties(), author_id=a.head.id)
    _rejects(negotiation, statement, SignatureError)


def test_delegate_acting_with_head_authority_is_rejected(negotiation: Negotiation, parties: Parties) -> None:
    a, b, _ = parties
    delegate = a.devices[1]
    assert delegate.cert.role == "delegate"
    official = negotiation.encrypted(delegate, "response.official", {"stance": "accept"},
                                     readers=[a.head, b.head], parties=[a.id, b.id], authority="head")
    _rejects(negotiation, official, ProtocolError, "head of delegation")
    statement = negotiation.public(delegate, PUBLIC_STATEMENT, {"text": "We sign."}, authority="head",
                                   parties=negotiation.state.joined_parties())
    _rejects(negotiation, statement, ProtocolError, "head of delegation")
    statement = negotiation.public(delegate, PUBLIC_STATEMENT, {"text": "We sign."},
                                   parties=negotiation.state.joined_parties())
    _rejects(negotiation, statement, ProtocolError, "head of delegation")
    # the head may
    negotiation.accept(negotiation.encrypted(a.head, "response.official", {"stance": "accept"},
                                             readers=[a.head, b.head], parties=[a.id, b.id], authority="head"))
    negotiation.statement(a.head, "We sign.")


# ---- audience and recipients ----------------------------------------------------------------------

def test_audience_with_a_party_not_in_the_negotiation_is_rejected(negotiation: Negotiation,
                                                                  parties: Parties) -> None:
    a, _, _ = parties
    stranger = Party.create("Stranger")
    env = negotiation.encrypted(a.head, "message", {"text": "hi"}, readers=[a.head],
                                parties=[a.id, stranger.id])
    _rejects(negotiation, env, ProtocolError, "audience names a party")


def test_audience_with_an_invited_party_is_rejected_for_ordinary_events(parties: Parties) -> None:
    a, b, _ = parties
    neg = Negotiation()
    neg.genesis(a)
    neg.invite(a.head, b)
    env = neg.encrypted(a.head, "message", {"text": "hi"}, readers=[a.head], parties=[a.id, b.id])
    _rejects(neg, env, ProtocolError, "audience names a party")


def test_recipients_outside_audience_are_rejected(negotiation: Negotiation, parties: Parties) -> None:
    a, b, c = parties
    # audience is A and B, but the ciphertext is also encrypted to C's head
    env = negotiation.encrypted(a.head, "message", {"text": "for A and B"}, readers=[a.head, b.head, c.head],
                                parties=[a.id, b.id])
    _rejects(negotiation, env, ProtocolError, "outside its audience")
    # role filter: heads only, but encrypted to A's delegate too
    env = negotiation.encrypted(a.head, "memorandum.deliver", {"restricted": True}, readers=[a.head, a.devices[1]],
                                parties=[a.id], roles=["head"])
    _rejects(negotiation, env, ProtocolError, "outside its audience")
    # encrypted to a device nobody certified
    outsider = Party.create("Outsider")
    env = negotiation.encrypted(a.head, "message", {"text": "x"}, readers=[a.head, outsider.head], parties=[a.id])
    _rejects(negotiation, env, ProtocolError, "outside its audience")
    # the honest versions are accepted
    negotiation.message(a.head, "for A and B", readers=[a.head, b.head])
    negotiation.accept(negotiation.encrypted(a.head, "memorandum.deliver", {"restricted": True},
                                             readers=[a.head], parties=[a.id], roles=["head"]))


# ---- members: add, remove, revoke, leave ----------------------------------------------------------

def test_member_add(negotiation: Negotiation, parties: Parties) -> None:
    a, b, _ = parties
    expert = b.device("Expert B", role="expert")
    negotiation.add_member(b.head, expert)
    assert negotiation.state.is_current_member(expert.id, NOW)
    negotiation.message(expert, "my analysis", readers=[b.head, expert])
    _rejects(negotiation, negotiation.public(b.head, MEMBER_ADD, {"certificate": expert.cert.to_obj()},
                                             parties=negotiation.state.joined_parties()),
             ProtocolError, "already a member")


def test_member_add_rules(negotiation: Negotiation, parties: Parties) -> None:
    a, b, _ = parties
    # A adds a certificate of B's party
    other = b.device("B's new delegate")
    _rejects(negotiation, negotiation.public(a.head, MEMBER_ADD, {"certificate": other.cert.to_obj()},
                                             parties=negotiation.state.joined_parties()),
             ProtocolError, "own party")
    # a certificate for A signed by some other root (the relay or a rogue)
    forged = a.device("Mole", issuer=SigningKey.generate())
    obj = {**forged.cert.to_obj(), "party_id": a.id}
    _rejects(negotiation, negotiation.public(a.head, MEMBER_ADD, {"certificate": obj},
                                             parties=negotiation.state.joined_parties()), TrustError)


def test_revoked_member_posting_after_revocation_time_is_rejected(negotiation: Negotiation,
                                                                  parties: Parties) -> None:
    a, b, _ = parties
    delegate = a.devices[1]
    revoked_at = NOW + timedelta(minutes=5)
    negotiation.remove_member(a.head, a, delegate, revoked_at)
    assert negotiation.state.revoked[delegate.id] == revoked_at
    # before the revocation time the delegate still counts (events created earlier, delivered late)
    negotiation.message(delegate, "before", readers=[a.head, delegate], created=NOW + timedelta(minutes=4))
    after = negotiation.encrypted(delegate, "message", {"text": "after"}, readers=[a.head], parties=[a.id],
                                  created=NOW + timedelta(minutes=5))
    _rejects(negotiation, after, ProtocolError, "not a current member")
    # and the revoked device can no longer be a recipient
    leak = negotiation.encrypted(a.head, "message", {"text": "later"}, readers=[a.head, delegate],
                                 parties=[a.id], created=NOW + timedelta(minutes=6))
    _rejects(negotiation, leak, ProtocolError, "outside its audience")
    assert delegate.id not in {c.device_key_id for c in negotiation.state.current_members(NOW + timedelta(hours=1))}


def test_revocation_rules(negotiation: Negotiation, parties: Parties) -> None:
    a, b, _ = parties
    # B's root revoking A's delegate: the revocation names B, whose member it is not
    rev = Revocation.issue(b.root, a.devices[1].id, NOW)
    env = negotiation.public(b.head, MEMBER_REMOVE, {"revocation": rev.to_obj()},
                             parties=negotiation.state.joined_parties())
    _rejects(negotiation, env, ProtocolError, "not a member of that party")
    # a revocation claiming to be A's but signed by another root
    forged = replace(Revocation.issue(SigningKey.generate(), a.devices[1].id, NOW), party_id=a.id)
    env = negotiation.public(b.head, MEMBER_REMOVE, {"revocation": forged.to_obj()},
                             parties=negotiation.state.joined_parties())
    _rejects(negotiation, env, TrustError)
    # a revocation for a party outside the negotiation
    stranger = Party.create("Stranger")
    rev = Revocation.issue(stranger.root, stranger.head.id, NOW)
    env = negotiation.public(a.head, MEMBER_REMOVE, {"revocation": rev.to_obj()},
                             parties=negotiation.state.joined_parties())
    _rejects(negotiation, env, ProtocolError, "not in this negotiation")


def test_expired_certificate_cannot_post(parties: Parties) -> None:
    a, _, _ = parties
    short = a.device("Short-lived", not_before=NOW - timedelta(hours=2), not_after=NOW + timedelta(minutes=1))
    neg = Negotiation()
    neg.genesis(a)
    neg.message(short, "in time", readers=[short], created=NOW)
    late = neg.encrypted(short, "message", {"text": "late"}, readers=[short], parties=[a.id],
                         created=NOW + timedelta(minutes=2))
    _rejects(neg, late, ProtocolError, "not a current member")
    early = neg.encrypted(short, "message", {"text": "early"}, readers=[short], parties=[a.id],
                          created=NOW - timedelta(hours=3))
    _rejects(neg, early, ProtocolError, "not a current member")


def test_party_leave(negotiation: Negotiation, parties: Parties) -> None:
    a, b, c = parties
    negotiation.leave(c.head)
    assert negotiation.state.parties[c.id].status == "left"
    assert negotiation.state.joined_parties() == sorted([a.id, b.id])
    env = negotiation.encrypted(c.head, "message", {"text": "still here?"}, readers=[c.head], parties=[c.id])
    _rejects(negotiation, env, ProtocolError, "not a current member")
    # a party that left can be invited again
    negotiation.invite(a.head, c)
    negotiation.join(c)
    assert c.id in negotiation.state.joined_parties()


def test_public_statement_rules(negotiation: Negotiation, parties: Parties) -> None:
    a, _, _ = parties
    everyone = negotiation.state.joined_parties()
    _rejects(negotiation, negotiation.public(a.head, PUBLIC_STATEMENT, {"text": "  "}, authority="head",
                                             parties=everyone), InputError, "needs text")
    _rejects(negotiation, negotiation.public(a.head, PUBLIC_STATEMENT, {"text": "x", "extra": 1},
                                             authority="head", parties=everyone), InputError)
    _rejects(negotiation, negotiation.public(a.head, "party.abdicate", {}, parties=everyone), ProtocolError,
             "unknown public event type")
    _rejects(negotiation, negotiation.public(a.head, GENESIS, {"party": a.record.to_obj(),
                                                               "certificates": a.certificates()},
                                             parties=everyone), ProtocolError, "unknown public event type")


# ---- log shape: replay, prev, clock -----------------------------------------------------------------

def test_replayed_event_is_rejected(negotiation: Negotiation, parties: Parties) -> None:
    a, b, _ = parties
    env = negotiation.message(a.head, "once", readers=[a.head, b.head])
    _rejects(negotiation, env, ProtocolError, "replayed")
    # also with a different (re-encoded) copy of the same envelope
    _rejects(negotiation, Envelope.from_json(env.to_json()), ProtocolError, "replayed")
    # and the genesis replayed later
    _rejects(negotiation, negotiation.log[0], ProtocolError, "replayed")


def test_unknown_prev_is_rejected(negotiation: Negotiation, parties: Parties) -> None:
    a, _, _ = parties
    for prev in ("f" * 64, None):
        env = negotiation.encrypted(a.head, "message", {"text": "hi"}, readers=[a.head], parties=[a.id], prev=prev)
        _rejects(negotiation, env, ProtocolError, "prev")
    # any earlier event of the log is a valid prev (the author had not seen the latest yet)
    negotiation.message(a.head, "late", readers=[a.head], prev=negotiation.log[1].event_id)


def test_clock_skew_is_checked_only_with_now(negotiation: Negotiation, parties: Parties) -> None:
    a, _, _ = parties
    env = negotiation.encrypted(a.head, "message", {"text": "hi"}, readers=[a.head], parties=[a.id],
                                created=NOW + timedelta(minutes=10))
    _rejects(negotiation, env, ProtocolError, "too far", now=NOW)
    negotiation.state.accept(env, now=NOW + timedelta(minutes=6))
    negotiation.log.append(env)


def test_failing_accept_leaves_state_unchanged(negotiation: Negotiation, parties: Parties) -> None:
    a, b, c = parties
    size, members = negotiation.state.size, dict(negotiation.state.members)
    statuses = {pid: p.status for pid, p in negotiation.state.parties.items()}
    bad_events = [
        negotiation.public(a.head, MEMBER_ADD, {"certificate": b.device("x").cert.to_obj()},
                           parties=negotiation.state.joined_parties()),
        negotiation.join_event(c),
        negotiation.invite_event(a.head, b),
        negotiation.public(a.devices[1], "party.leave", {}, parties=negotiation.state.joined_parties(),
                           sign_with=b.head.signing),
    ]
    for env in bad_events:
        with pytest.raises(ParleyError):
            negotiation.state.accept(env)
    assert negotiation.state.size == size
    assert negotiation.state.members == members
    assert {pid: p.status for pid, p in negotiation.state.parties.items()} == statuses
    negotiation.message(a.head, "still works", readers=[a.head])


def test_max_parties_limit(parties: Parties) -> None:
    a, b, c = parties
    neg = Negotiation()
    neg.state = NegotiationState(neg.id, Limits(max_parties=2))
    neg.genesis(a)
    neg.invite(a.head, b)
    _rejects(neg, neg.invite_event(a.head, c), ProtocolError, "at most 2 parties")


# ---- derive_state ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def full_log() -> tuple[str, list[Envelope]]:
    """A log with every kind of event: genesis, invites, joins, messages, add, remove, statement, leave."""
    a = Party.create("Ukraine")
    delegate = a.device("Delegate A", role="delegate")
    b, c = Party.create("Russian Federation"), Party.create("Türkiye")
    neg = Negotiation("n-full")
    neg.genesis(a)
    neg.invite(a.head, b)
    neg.join(b)
    neg.message(a.head, "opening", readers=[a.head, delegate, b.head])
    neg.invite(b.head, c)
    neg.join(c)
    expert = c.device("Expert C", role="expert")
    neg.add_member(c.head, expert)
    neg.accept(neg.encrypted(a.head, "memorandum.deliver", {"issues": ["1", "2"]},
                             readers=[a.head, b.head, c.head], parties=[a.id, b.id, c.id], roles=["head"]))
    neg.message(expert, "analysis", readers=[c.head, expert])
    neg.remove_member(a.head, a, delegate, NOW + timedelta(minutes=1))
    neg.statement(b.head, "Talks continue in Istanbul.", created=NOW + timedelta(minutes=2))
    neg.leave(c.head, created=NOW + timedelta(minutes=3))
    neg.message(b.head, "after", readers=[a.head, b.head], created=NOW + timedelta(minutes=4))
    return neg.id, neg.log


def test_derive_state_replays_the_log(full_log: tuple[str, list[Envelope]]) -> None:
    negotiation_id, log = full_log
    state = derive_state(negotiation_id, log)
    assert state.size == len(log) == 13
    assert state.head == log[-1].event_id
    assert [p.status for p in state.parties.values()] == ["joined", "joined", "left"]
    assert len(state.members) == 5 and len(state.revoked) == 1


def test_derive_state_stops_at_the_first_bad_event(full_log: tuple[str, list[Envelope]]) -> None:
    negotiation_id, log = full_log
    with pytest.raises(ProtocolError, match="prev"):
        derive_state(negotiation_id, [log[0], *log[2:]])  # the invite is missing: B's join has no invitation
    with pytest.raises(ProtocolError, match="genesis"):
        derive_state(negotiation_id, log[1:])
    with pytest.raises(ProtocolError, match="replayed"):
        derive_state(negotiation_id, [*log, log[3]])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=14), min_size=1, max_size=14))
def test_derive_state_is_independent_of_batch_sizes(full_log: tuple[str, list[Envelope]],
                                                    batch_sizes: list[int]) -> None:
    """Syncing page by page (each page re-parsed from the wire, as a client does) gives the same state."""
    negotiation_id, log = full_log
    reference = derive_state(negotiation_id, log)
    state = NegotiationState(negotiation_id)
    position, index = 0, 0
    while position < len(log):
        size = batch_sizes[index % len(batch_sizes)]
        page = [Envelope.from_json(env.to_json()) for env in log[position:position + size]]
        if index % 2:  # every other page: a restarted client rebuilding from its cache first
            state = derive_state(negotiation_id, [Envelope.from_obj(e.to_obj()) for e in log[:position]])
        for env in page:
            state.accept(env)
        position += size
        index += 1
    assert state == reference
    assert snapshot(state) == snapshot(reference)


# ---- fuzzing the rule book: hostile public content from a real member ------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=12), children, max_size=3),
    max_leaves=10,
)


@pytest.fixture(scope="module")
def fuzz_world() -> tuple[Negotiation, Party, Party]:
    a, b = Party.create("Ukraine"), Party.create("Russian Federation")
    neg = Negotiation("n-fuzz")
    neg.genesis(a)
    neg.invite(a.head, b)
    return neg, a, b


_FIELDS = {
    PARTY_JOIN: "certificates", MEMBER_ADD: "certificate", MEMBER_REMOVE: "revocation", "party.invite": "party",
    PUBLIC_STATEMENT: "text", "party.leave": None, "statement.other": None,
}


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(_FIELDS)), _json, st.booleans())
def test_hostile_public_content_raises_only_parley_errors(fuzz_world: tuple[Negotiation, Party, Party],
                                                          event_type: str, value: Any, wrap: bool) -> None:
    neg, a, b = fuzz_world
    field = _FIELDS[event_type]
    content = {field: value} if field and wrap else value
    author = b.head if event_type == PARTY_JOIN else a.head
    audience = sorted([a.id, b.id]) if event_type == PARTY_JOIN else [a.id]
    env = neg.public(author, event_type, content, parties=audience, authority="head")
    state = NegotiationState(neg.id)
    for earlier in neg.log:
        state.accept(earlier)
    try:
        state.accept(env)
    except ParleyError:
        pass


def test_genesis_and_join_by_an_expired_certificate_are_rejected(parties: Parties) -> None:
    a, b, _ = parties
    neg = Negotiation()
    long_after = NOW + timedelta(days=3650)
    _rejects(neg, neg.genesis_event(a, created=long_after), TrustError, "not valid at")
    neg.genesis(a)
    neg.invite(a.head, b)
    _rejects(neg, neg.join_event(b, created=long_after), TrustError, "not valid at")


def test_delegate_claiming_head_authority_in_genesis_or_join_is_rejected(parties: Parties) -> None:
    a, b, _ = parties
    neg = Negotiation()
    delegate = a.device("Delegate", role="delegate")
    content = {"party": a.record.to_obj(), "certificates": a.certificates()}
    _rejects(neg, neg.public(delegate, GENESIS, content, parties=[a.id], prev=None, authority="head"),
             ProtocolError, "head authority")
    neg.genesis(a)
    neg.invite(a.head, b)
    b_delegate = b.device("Delegate", role="delegate")
    _rejects(neg, neg.join_event(b, author=b_delegate, authority="head"), ProtocolError, "head authority")


# ---- the audience rule, recipient by recipient -----------------------------------------------------

@pytest.fixture(scope="module")
def audience_world() -> tuple[Negotiation, list[str], list[str]]:
    """Three joined parties and one that left; heads, delegates, an expert, a revoked and a short-lived
    device, and one device nobody certified."""
    a, b, c, d = (Party.create(name) for name in ("Ukraine", "Russian Federation", "Türkiye", "United States"))
    a.device("Delegate A", role="delegate")
    b.device("Expert B", role="expert")
    gone = c.device("Delegate C", role="delegate")
    c.device("Short-lived C", role="observer", not_before=NOW - timedelta(hours=2), not_after=NOW + timedelta(minutes=1))
    neg = Negotiation("n-audience")
    neg.genesis(a)
    for other in (b, c, d):
        neg.invite(a.head, other)
        neg.join(other)
    neg.remove_member(c.head, c, gone, NOW + timedelta(minutes=5))
    neg.leave(d.head)
    devices = [dev.id for party in (a, b, c, d) for dev in party.devices] + [Party.create("Outsider").head.id]
    return neg, [a.id, b.id, c.id, d.id], devices


@settings(max_examples=300, deadline=None)
@given(parties=st.sets(st.integers(0, 2), min_size=1), roles=st.none() | st.sets(st.sampled_from(
    ["delegate", "expert", "head", "observer"]), min_size=1), recipients=st.sets(st.integers(0, 8), min_size=1),
    minutes=st.sampled_from([-180, 0, 3, 10]))
def test_recipients_outside_audience_are_refused_exactly_as_current_members_says(
        audience_world: tuple[Negotiation, list[str], list[str]], parties: set[int], roles: set[str] | None,
        recipients: set[int], minutes: int) -> None:
    """The rule checks each recipient on its own; it must refuse exactly the events that encrypt to a device
    outside ``current_members(created, parties, roles)`` (revoked, expired, left, wrong role or party).
    The audience names joined parties only (another rule refuses the rest first)."""
    neg, party_ids, devices = audience_world
    created = NOW + timedelta(minutes=minutes)
    audience = Audience(tuple(sorted(party_ids[i] for i in parties)), None if roles is None else tuple(sorted(roles)))
    readers = tuple(sorted(devices[i] for i in recipients))
    header = build_header(nonce=new_nonce(), negotiation=neg.id, author=devices[0], created=created, audience=audience,
                          prev=neg.state.head, ciphertexts=(CiphertextRef("0" * 64, readers),))
    envelope = Envelope(header, "", (b"",))
    allowed = {cert.device_key_id for cert in neg.state.current_members(created, audience.parties, audience.roles)}
    if set(readers) <= allowed:
        neg.state._check_audience(envelope, allow_invited=False)
    else:
        with pytest.raises(ProtocolError, match="outside its audience"):
            neg.state._check_audience(envelope, allow_invited=False)
