"""``parley zopa`` between real participants: overlap at the boundaries, aborts, malformed and replayed
messages, the one-try rule, the split point, and what the relay stores."""

from __future__ import annotations

import pytest

from parley.client.workflow import Negotiation
from parley.client.zopa import ZopaDesk
from parley.crypto import comparison as cmp
from parley.errors import ConflictError, ForbiddenError, InputError, NotFoundError
from parley.protocol import zopa as z

SELL, BUY = cmp.AT_LEAST, cmp.AT_MOST


@pytest.fixture
def table(world):
    ukraine, russia = world.party("Ukraine"), world.party("Russian Federation")
    nid = world.negotiation(ukraine, russia)
    ua, ru = ZopaDesk(Negotiation(ukraine, nid)), ZopaDesk(Negotiation(russia, nid))
    issue = ua.negotiation.add_issue("Prisoner exchange ratio (per 100)", "prisoners")
    return world, ua, ru, issue


def run_check(ua: ZopaDesk, ru: ZopaDesk, issue: str, a: tuple[int, str], b: tuple[int, str], *,
              split: bool = False, consent: tuple[bool, bool] = (True, True)) -> dict:
    check = ua.open(issue, ["Russian Federation"], split=split)
    ua.commit(check, a[0], a[1], allow_split=consent[0])
    ru.commit(check, b[0], b[1], allow_split=consent[1])
    ua.advance(check)
    if split:
        ru.advance(check)
        ua.advance(check)
    outcome = ua.status(check)
    assert ru.status(check)["status"] == outcome["status"]
    return outcome


@pytest.mark.parametrize(("seller", "buyer", "expected"), [
    (500, 500, z.OVERLAP),        # equal limits: the ranges meet in one point
    (500, 501, z.OVERLAP),        # off by one, the right way
    (501, 500, z.NO_OVERLAP),     # off by one, the wrong way
    (0, 2**32 - 1, z.OVERLAP),
    (2**32 - 1, 0, z.NO_OVERLAP),
    (2**32 - 1, 2**32 - 1, z.OVERLAP),
])
def test_overlap_and_no_overlap_at_the_boundaries(table, seller, buyer, expected):
    _, ua, ru, issue = table
    assert run_check(ua, ru, issue, (seller, SELL), (buyer, BUY))["status"] == expected


def test_the_opener_may_be_the_buyer(table):
    _, ua, ru, issue = table
    assert run_check(ua, ru, issue, (700, BUY), (700, SELL))["status"] == z.OVERLAP


def test_the_opener_may_be_the_buyer_without_overlap(table):
    _, ua, ru, issue = table
    assert run_check(ua, ru, issue, (699, BUY), (700, SELL))["status"] == z.NO_OVERLAP


def test_split_point_is_the_midpoint_when_both_agreed(table):
    _, ua, ru, issue = table
    outcome = run_check(ua, ru, issue, (400, SELL), (601, BUY), split=True)
    assert outcome["status"] == z.OVERLAP and outcome["midpoint"] == "500.5"


def test_no_split_point_unless_both_agreed(table):
    _, ua, ru, issue = table
    outcome = run_check(ua, ru, issue, (400, SELL), (600, BUY), split=True, consent=(True, False))
    assert outcome["status"] == z.OVERLAP and outcome["midpoint"] is None and not outcome["split_agreed"]


def test_no_split_point_without_overlap(table):
    _, ua, ru, issue = table
    outcome = run_check(ua, ru, issue, (600, SELL), (400, BUY), split=True)
    assert outcome["status"] == z.NO_OVERLAP and outcome["midpoint"] is None


def test_second_attempt_in_the_same_round_is_refused(table):
    """Binary search: after a 'no', a party tries again with another number. Refused: one try per round."""
    _, ua, ru, issue = table
    assert run_check(ua, ru, issue, (600, SELL), (400, BUY))["status"] == z.NO_OVERLAP
    again = ua.open(issue, ["Russian Federation"])
    with pytest.raises(ConflictError, match="second attempt refused"):
        ua.commit(again, 450, SELL)
    # the counterparty's own try is spent as well: it cannot be lured into a second answer
    with pytest.raises(ConflictError, match="second attempt refused"):
        ru.commit(again, 450, BUY)


def test_a_new_round_gives_a_new_try(table):
    from datetime import timedelta

    world, ua, ru, issue = table
    assert run_check(ua, ru, issue, (600, SELL), (400, BUY))["status"] == z.NO_OVERLAP
    ua.negotiation.open_round(2, "Istanbul", world.clock.now + timedelta(days=1))
    assert run_check(ua, ru, issue, (450, SELL), (460, BUY))["status"] == z.OVERLAP


def test_a_party_that_aborts_mid_protocol(table):
    _, ua, ru, issue = table
    check = ua.open(issue, ["Russian Federation"])
    ua.commit(check, 500, SELL)
    ru.abort(check, "instructions changed")
    status = ua.advance(check)
    assert status["status"] == z.ABORTED and status["aborted_by"] == ru.own_party
    with pytest.raises(ConflictError, match="aborted"):
        ru.commit(check, 600, BUY)
    # the try is spent all the same: aborting cannot be used to retry with a better-informed number
    with pytest.raises(ConflictError, match="second attempt refused"):
        ua.commit(ua.open(issue, ["Russian Federation"]), 480, SELL)


def test_a_party_that_stops_answering_leaves_the_check_waiting(table):
    """Russia commits and never reveals... Ukraine's reveal is what Russia needs; Ukraine stops there."""
    _, ua, ru, issue = table
    check = ua.open(issue, ["Russian Federation"])
    ua.commit(check, 500, SELL)
    status = ru.status(check)
    assert status["status"] == z.COMMITTING and status["waiting_for"] == [ru.own_party]
    ua_view = ua.advance(check)
    assert ua_view["status"] == z.COMMITTING and not ua_view["my_turn"]


def test_commit_out_of_turn_and_by_outsiders_is_refused(table, world):
    _, ua, ru, issue = table
    check = ua.open(issue, ["Russian Federation"])
    with pytest.raises(ConflictError, match="not this party's turn"):
        ru.commit(check, 500, BUY)
    delegate = world.member(ua.client, "Delegate", "delegate")
    delegate.profile.pin(ru.client.profile.party, verified=True)
    with pytest.raises(ForbiddenError, match="head of delegation"):
        ZopaDesk(Negotiation(delegate, ua.negotiation.id)).commit(check, 1, SELL)


@pytest.mark.parametrize("bad", [-1, 2**32, "10", 1.5])
def test_values_outside_32_bits_are_refused(table, bad):
    _, ua, ru, issue = table
    check = ua.open(issue, ["Russian Federation"])
    with pytest.raises(InputError):
        ua.commit(check, bad, SELL)


def test_unknown_issue_or_check(table):
    _, ua, ru, issue = table
    with pytest.raises(NotFoundError):
        ua.open("no-such-issue", ["Russian Federation"])
    with pytest.raises(NotFoundError):
        ua.status("zopa-000000000000")


def test_a_party_that_sends_a_malformed_commit_gets_no_answer(table):
    """Russia's client is bent: it answers with 32 blinded values instead of 33 and a non-bit share.
    Ukraine's fold refuses both; the check waits for a well-formed commit and Ukraine never reveals."""
    _, ua, ru, issue = table
    check = ua.open(issue, ["Russian Federation"])
    ua.commit(check, 500, SELL)
    parties = [ua.own_party, ru.own_party]
    bits = ua.ledger().checks[check].commits[ua.own_party]["bits"]
    key = ua.ledger().checks[check].commits[ua.own_party]["key"]
    blinded, _ = cmp.blind_comparison(key, bits, cmp.encode_bound(600, BUY))
    ru.client.post(ru.negotiation.id, z.ZOPA_COMMIT,
                   {"check_id": check, "direction": BUY, "split_consent": False,
                    "replies": {ua.own_party: {"blinded": cmp.ciphertexts_to_b64(key, blinded[:-1])}}},
                   parties=parties, authority="head")
    ru.client.post(ru.negotiation.id, z.ZOPA_REVEAL, {"check_id": check, "shares": {ua.own_party: 7}},
                   parties=parties, authority="head")
    ledger = ua.ledger()
    assert any("32 ciphertexts" not in v and "33 ciphertexts" in v for v in ledger.violations)
    assert any("only once every party committed" in v for v in ledger.violations)
    status = ua.advance(check)
    assert status["status"] == z.COMMITTING and status["waiting_for"] == [ru.own_party]
    assert ua.ledger().checks[check].reveals == {}


def test_the_relay_stores_neither_value(table):
    """Transcript check: after a whole check (with its split point), no form of either reservation value,
    of the split point, of the directions or of the message types is in the relay's files or rows."""
    world, ua, ru, issue = table
    seller, buyer = 271_828_182, 314_159_265
    outcome = run_check(ua, ru, issue, (seller, SELL), (buyer, BUY), split=True)
    assert outcome["status"] == z.OVERLAP and outcome["midpoint"] == "292993723.5"
    needles: list[tuple[str, bytes]] = []
    for name, number in (("seller", seller), ("buyer", buyer), ("seller bound", 2 * seller),
                         ("buyer bound", 2 * buyer + 1), ("sum", seller + buyer)):
        # decimal and 8-byte forms (a 4-byte pattern would turn up by chance in megabytes of ciphertext)
        needles += [(f"{name} decimal", str(number).encode()), (f"{name} u64", number.to_bytes(8, "big")),
                    (f"{name} u64 le", number.to_bytes(8, "little"))]
    needles += [("midpoint", b"292993723"), ("direction", b"at-least"), ("direction", b"at-most")]
    needles += [(f"type {t}", t.encode()) for t in sorted(z.ZOPA_TYPES)]
    db = world.tmp / "relay.db"
    files = [p for p in (db, db.with_name("relay.db-wal")) if p.exists()]
    stored = b"".join(p.read_bytes() for p in files)
    with world.store.engine.connect() as conn:
        from sqlalchemy import select

        from parley.store.schema import metadata

        for table_ in metadata.sorted_tables:
            for row in conn.execute(select(table_)):
                stored += b"\x00".join(v if isinstance(v, bytes) else str(v).encode() for v in row)
    leaks = [name for name, needle in needles if needle in stored]
    assert leaks == [], f"the relay holds {leaks}"
    # the check did travel through the relay: every message of it is an age ciphertext there
    events = world.store.events(ua.negotiation.id, -1, 1000, reader=None)
    blobs = [blob for row in events for blob in row.ciphertexts.values()]
    assert sum(len(b) > 20_000 for b in blobs) >= 2  # the two commits (33 Paillier ciphertexts each)
    assert all(blob.startswith(b"age-encryption.org/v1\n") for blob in blobs)


def test_three_parties_with_a_mediator_below_the_zone(world):
    """Three parties: a lower bound, an upper bound and a second lower bound. The check overlaps only if
    every lower bound is at or below every upper bound."""
    ukraine, russia, turkiye = world.party("Ukraine"), world.party("Russian Federation"), world.party("Türkiye")
    nid = world.negotiation(ukraine, russia, turkiye)
    ua, ru, tr = (ZopaDesk(Negotiation(c, nid)) for c in (ukraine, russia, turkiye))
    issue = ua.negotiation.add_issue("Ceasefire line depth (km)", "depth")

    def run(values: dict) -> str:
        check = ua.open(issue, ["Russian Federation", "Türkiye"])
        for desk in (ua, ru, tr):
            desk.commit(check, *values[desk.own_party])
        for desk in (ua, ru, tr):
            desk.advance(check)
        statuses = {desk.status(check)["status"] for desk in (ua, ru, tr)}
        assert len(statuses) == 1
        return statuses.pop()

    assert run({ua.own_party: (10, SELL), ru.own_party: (20, BUY), tr.own_party: (15, SELL)}) == z.OVERLAP
    ua.negotiation.open_round(2, "Geneva", world.clock.now)
    assert run({ua.own_party: (10, SELL), ru.own_party: (20, BUY), tr.own_party: (21, SELL)}) == z.NO_OVERLAP
