"""The zopa fold (pure): message rules, malformed and replayed messages, the one-try rule, outcomes."""

from __future__ import annotations

import copy
import dataclasses
import itertools

import pytest

from parley.crypto import comparison as cmp
from parley.errors import InputError, ProtocolError
from parley.protocol import zopa as z
from parley.protocol.workflow import Entry

A, B, C = "party-a", "party-b", "party-c"
_seq = itertools.count()


def entry(party: str, event_type: str, content: dict, *, audience=(A, B), authority: str = "head") -> Entry:
    seq = next(_seq)
    return Entry(seq=seq, event_id=f"e{seq}", created="2026-03-01T10:00:00Z", author=f"head of {party}", role="head",
                 party=party, authority=authority, audience=tuple(audience), type=event_type, content=content)


def fold(events: list[Entry]) -> z.ZopaLedger:
    """The ledger of ``events`` in list order (as the log would order them)."""
    return z.derive_ledger([dataclasses.replace(e, seq=i) for i, e in enumerate(events)])


@pytest.fixture(scope="module")
def key_a() -> cmp.ComparisonKey:
    return cmp.ComparisonKey.generate()


def opening(check="chk-1", issue="prisoners", round_id="round-1", parties=(A, B), split=None) -> Entry:
    return entry(parties[0], z.ZOPA_OPEN, {"check_id": check, "issue_id": issue, "round_id": round_id,
                                           "parties": list(parties), "split": split}, audience=parties)


def commit_a(key: cmp.ComparisonKey, x: int, check="chk-1", direction=cmp.AT_LEAST) -> Entry:
    return entry(A, z.ZOPA_COMMIT, {"check_id": check, "direction": direction, "split_consent": False,
                                    "key": key.public_b64(), "replies": {},
                                    "bits": cmp.ciphertexts_to_b64(key.public, cmp.encrypt_bits(key, x))})


def commit_b(key: cmp.ComparisonKey, bits: list[str], y: int, check="chk-1", direction=cmp.AT_MOST):
    blinded, share = cmp.blind_comparison(key.public, cmp.ciphertexts_from_b64(key.public, bits, cmp.BITS, "b"), y)
    return entry(B, z.ZOPA_COMMIT, {"check_id": check, "direction": direction, "split_consent": False,
                                    "replies": {A: {"blinded": cmp.ciphertexts_to_b64(key.public, blinded)}}}), share


def full_run(key, seller: int, buyer: int) -> z.ZopaLedger:
    ca = commit_a(key, cmp.encode_bound(seller, cmp.AT_LEAST))
    cb, share_b = commit_b(key, ca.content["bits"], cmp.encode_bound(buyer, cmp.AT_MOST))
    reply = cmp.ciphertexts_from_b64(key.public, cb.content["replies"][A]["blinded"], cmp.BITS, "r")
    share_a = cmp.zero_share(key, reply)
    return fold([opening(), ca, cb, entry(B, z.ZOPA_REVEAL, {"check_id": "chk-1", "shares": {A: share_b}}),
                            entry(A, z.ZOPA_REVEAL, {"check_id": "chk-1", "shares": {B: share_a}})])


@pytest.mark.parametrize(("seller", "buyer", "status"), [(10, 10, z.OVERLAP), (10, 11, z.OVERLAP),
                                                         (11, 10, z.NO_OVERLAP)])
def test_outcome_at_the_boundaries(key_a, seller, buyer, status):
    ledger = full_run(key_a, seller, buyer)
    assert ledger.violations == []
    assert ledger.checks["chk-1"].status == status and ledger.checks["chk-1"].finished


def test_replayed_commit_is_refused(key_a):
    ca = commit_a(key_a, 20)
    ledger = fold([opening(), ca, entry(A, z.ZOPA_COMMIT, copy.deepcopy(ca.content))])
    assert len(ledger.violations) == 1 and "a replay" in ledger.violations[0]
    assert list(ledger.checks["chk-1"].commits) == [A]


def test_commit_replayed_into_a_second_check_is_a_second_attempt(key_a):
    """Copying one's old ciphertexts into a new check on the same issue and round is still a second try."""
    ca = commit_a(key_a, 20)
    second = entry(A, z.ZOPA_COMMIT, {**copy.deepcopy(ca.content), "check_id": "chk-2"})
    ledger = fold([opening(), ca, opening(check="chk-2"), second])
    assert "second attempt refused" in ledger.violations[0]
    assert ledger.checks["chk-2"].commits == {}
    assert ledger.try_used("prisoners", "round-1", A) == "chk-1"


def test_another_issue_or_round_is_another_try(key_a):
    ledger = fold([opening(), commit_a(key_a, 20), opening(check="chk-2", round_id="round-2"),
                              commit_a(key_a, 22, check="chk-2"), opening(check="chk-3", issue="ceasefire"),
                              commit_a(key_a, 24, check="chk-3")])
    assert ledger.violations == []


def test_replayed_reveal_and_replayed_open_are_refused(key_a):
    ledger = full_run(key_a, 10, 12)
    events = [opening(), entry(B, z.ZOPA_REVEAL, {"check_id": "chk-1", "shares": {A: 0}})]
    replayed = fold(events)
    assert "only once every party committed" in replayed.violations[0]
    twice = fold([opening(), opening()])
    assert "a replay" in twice.violations[0]
    assert ledger.violations == []


@pytest.mark.parametrize("mutate", [
    lambda c: c.update(bits=c["bits"][:-1]),                                   # a bit missing
    lambda c: c.update(bits=c["bits"] + c["bits"][:1]),                        # a bit too many
    lambda c: c["bits"].__setitem__(0, cmp.int_to_b64(0, cmp.KEY_BITS // 4)),  # zero is no ciphertext
    lambda c: c["bits"].__setitem__(3, "not base64!"),
    lambda c: c.update(key=cmp.int_to_b64(2**1023 + 1, cmp.KEY_BITS // 8)),     # a small modulus
    lambda c: c.update(key=cmp.int_to_b64(2**2047, cmp.KEY_BITS // 8)),         # an even modulus
    lambda c: c.update(direction="around"),
    lambda c: c.update(split_consent="yes"),
    lambda c: c.update(replies={B: {}}),                                       # answers a later party
    lambda c: c.pop("key"),
])
def test_malformed_commit_is_refused_and_changes_nothing(key_a, mutate):
    ca = commit_a(key_a, 20)
    content = copy.deepcopy(dict(ca.content))
    mutate(content)
    ledger = fold([opening(), entry(A, z.ZOPA_COMMIT, content)])
    assert len(ledger.violations) == 1
    assert ledger.checks["chk-1"].commits == {} and ledger.tries == {}


def test_ciphertext_sharing_a_factor_with_the_modulus_is_refused(key_a):
    content = copy.deepcopy(dict(commit_a(key_a, 20).content))
    content["bits"][5] = cmp.int_to_b64(key_a.private.p, cmp.KEY_BITS // 4)
    ledger = fold([opening(), entry(A, z.ZOPA_COMMIT, content)])
    assert "not a Paillier ciphertext" in ledger.violations[0]


@pytest.mark.parametrize("shares", [{A: 2}, {A: True}, {}, {A: 0, C: 1}, "0"])
def test_malformed_reveal_is_refused(key_a, shares):
    ca = commit_a(key_a, 20)
    cb, _ = commit_b(key_a, ca.content["bits"], 21)
    ledger = fold([opening(), ca, cb, entry(B, z.ZOPA_REVEAL, {"check_id": "chk-1", "shares": shares})])
    assert len(ledger.violations) == 1 and ledger.checks["chk-1"].reveals == {}


def test_messages_from_outside_the_check_or_to_another_audience_are_refused(key_a):
    ca = commit_a(key_a, 20)
    outsider = entry(C, z.ZOPA_COMMIT, dict(ca.content), audience=(A, B, C))
    widened = entry(A, z.ZOPA_COMMIT, dict(ca.content), audience=(A, B, C))
    delegate = entry(A, z.ZOPA_COMMIT, dict(ca.content), authority="member")
    ledger = fold([opening(), outsider, widened, delegate])
    assert len(ledger.violations) == 3 and ledger.checks["chk-1"].commits == {}


def test_commit_out_of_order_is_refused(key_a):
    ca = commit_a(key_a, 20)
    cb, _ = commit_b(key_a, ca.content["bits"], 21)
    ledger = fold([opening(), cb])
    assert "check's order" in ledger.violations[0]


def test_abort_ends_the_check_and_nothing_after_it_counts(key_a):
    ca = commit_a(key_a, 20)
    cb, _ = commit_b(key_a, ca.content["bits"], 21)
    ledger = fold([opening(), ca, entry(B, z.ZOPA_ABORT, {"check_id": "chk-1", "reason": "recalled"}), cb])
    check = ledger.checks["chk-1"]
    assert check.status == z.ABORTED and check.aborted_by == B and check.finished
    assert "aborted" in ledger.violations[0]


def test_split_offered_to_three_parties_is_refused():
    ledger = fold([opening(parties=(A, B, C), split=z.SPLIT_MIDPOINT)])
    assert ledger.checks == {} and "two parties" in ledger.violations[0]


def test_three_parties_meet_only_if_every_lower_bound_is_below_every_upper_bound(key_a):
    key_b = cmp.ComparisonKey.generate()
    values = {A: (100, cmp.AT_LEAST), B: (150, cmp.AT_MOST), C: (120, cmp.AT_LEAST)}

    def run(values) -> str:
        parties, keys = (A, B, C), {A: key_a, B: key_b}
        events = [opening(parties=parties)]
        bits, shares = {}, {p: {} for p in parties}
        for index, party in enumerate(parties):
            x = cmp.encode_bound(*values[party])
            content = {"check_id": "chk-1", "direction": values[party][1], "split_consent": False, "replies": {}}
            if party in keys:
                bits[party] = cmp.encrypt_bits(keys[party], x)
                content.update(key=keys[party].public_b64(),
                               bits=cmp.ciphertexts_to_b64(keys[party].public, bits[party]))
            for holder in parties[:index]:
                blinded, share = cmp.blind_comparison(keys[holder].public, bits[holder], x)
                shares[party][holder] = share
                shares[holder][party] = cmp.zero_share(keys[holder], blinded)
                content["replies"][holder] = {"blinded": cmp.ciphertexts_to_b64(keys[holder].public, blinded)}
            events.append(entry(party, z.ZOPA_COMMIT, content, audience=parties))
        for party in parties:
            events.append(entry(party, z.ZOPA_REVEAL, {"check_id": "chk-1", "shares": shares[party]}, audience=parties))
        ledger = fold(events)
        assert ledger.violations == []
        return ledger.checks["chk-1"].status

    assert run(values) == z.OVERLAP
    assert run({**values, C: (151, cmp.AT_LEAST)}) == z.NO_OVERLAP


@pytest.mark.parametrize(("value", "direction"), [(-1, cmp.AT_LEAST), (2**32, cmp.AT_MOST), (5, "above")])
def test_encode_bound_refuses_out_of_range(value, direction):
    with pytest.raises(InputError):
        cmp.encode_bound(value, direction)


def test_shares_must_be_bits():
    with pytest.raises(ProtocolError):
        cmp.greater_than(2, 0)
