"""The zone-of-possible-agreement check (``parley zopa``): its messages and the pure fold over them.

On one issue, each party of a check enters a private reservation value with a direction ("at least"
or "at most"); the parties learn only whether every lower bound is at or below every upper bound (and,
if every party agreed when it committed, the midpoint of two parties' limits). The comparison itself is
``parley.crypto.comparison`` (DGK/Veugen on Paillier); these events carry its ciphertexts inside
ordinary end-to-end encrypted parley events, so the relay sees only age ciphertexts.

Events (encrypted, audience: the check's parties):

``zopa.open``    {check_id, issue_id, round_id, parties: [party ids, in protocol order], split: null|"midpoint"}
``zopa.commit``  {check_id, direction, split_consent, key?, bits?, value?, replies: {earlier party: {blinded, sum?}}}
                 party k commits after parties 0..k-1: with its own encrypted bits (if a later party will
                 answer them) and its answers to every earlier party's bits.
``zopa.reveal``  {check_id, shares: {other party: 0|1}}   once every party committed
``zopa.unmask``  {check_id, mask}    the second party, two-party checks with a split, after an overlap
``zopa.split``   {check_id, midpoint} the first party, after the unmask
``zopa.abort``   {check_id, reason}  any party of the check, before the outcome

The number of tries is the rule that stops a party from binary-searching another's limit: **one commit
per party per issue per round**, across every check. A second commit (in another check, or the same
one again) is refused here, by every honest client's fold, and listed as a violation; nobody answers
it. Commits need head-of-delegation authority (checked by the relay on the signed header).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from parley.crypto import comparison as cmp
from parley.errors import InputError, ProtocolError
from parley.protocol.workflow import Entry

ZOPA_OPEN, ZOPA_COMMIT, ZOPA_REVEAL = "zopa.open", "zopa.commit", "zopa.reveal"
ZOPA_UNMASK, ZOPA_SPLIT, ZOPA_ABORT = "zopa.unmask", "zopa.split", "zopa.abort"
ZOPA_TYPES = frozenset({ZOPA_OPEN, ZOPA_COMMIT, ZOPA_REVEAL, ZOPA_UNMASK, ZOPA_SPLIT, ZOPA_ABORT})
SPLIT_MIDPOINT = "midpoint"
NO_ROUND = "none"
#: parties in one check (pairwise comparisons grow as its square)
MAX_PARTIES = 8
COMMITTING, REVEALING, OVERLAP, NO_OVERLAP, ABORTED = "committing", "revealing", "overlap", "no-overlap", "aborted"


@dataclass
class ZopaCheck:
    """One check as the log says so far."""

    check_id: str
    issue_id: str
    round_id: str
    parties: tuple[str, ...]
    split: str | None
    opened_by: str
    commits: dict[str, dict[str, Any]] = field(default_factory=dict)
    reveals: dict[str, dict[str, int]] = field(default_factory=dict)
    mask: int | None = None
    midpoint: str | None = None
    aborted_by: str | None = None
    abort_reason: str | None = None

    # ---- derived -------------------------------------------------------------------------------
    def next_committer(self) -> str | None:
        for party in self.parties:
            if party not in self.commits:
                return party
        return None

    def pairs(self) -> list[tuple[str, str]]:
        """(key holder, responder) for every pair: the earlier party holds the key."""
        return [(a, b) for i, a in enumerate(self.parties) for b in self.parties[i + 1:]]

    def pair_overlaps(self, holder: str, responder: str) -> bool | None:
        """Whether the two parties' ranges meet (None until both revealed)."""
        a, b = self.commits[holder]["direction"], self.commits[responder]["direction"]
        if a == b:
            return True  # two lower (or two upper) bounds always leave room above (below) both
        try:
            share_a, share_b = self.reveals[holder][responder], self.reveals[responder][holder]
        except KeyError:
            return None
        holder_greater = cmp.greater_than(share_a, share_b)
        return holder_greater if a == cmp.AT_MOST else not holder_greater

    @property
    def status(self) -> str:
        if self.next_committer() is not None:
            return ABORTED if self.aborted_by else COMMITTING
        results = [self.pair_overlaps(a, b) for a, b in self.pairs()]
        if any(r is False for r in results) and all(r is not None for r in results):
            return NO_OVERLAP
        if all(r is True for r in results):
            return OVERLAP
        return ABORTED if self.aborted_by else REVEALING

    @property
    def split_agreed(self) -> bool:
        return (self.split == SPLIT_MIDPOINT and len(self.parties) == 2 and len(self.commits) == 2
                and all(c.get("split_consent") is True for c in self.commits.values()))

    @property
    def finished(self) -> bool:
        """Nothing more will happen: no overlap, aborted, or an overlap with its split point (if agreed)."""
        status = self.status
        return status in (NO_OVERLAP, ABORTED) or (status == OVERLAP and not self.waiting_for())

    def waiting_for(self) -> list[str]:
        """The parties that owe the next message."""
        status = self.status
        if status == COMMITTING:
            return [self.next_committer()]
        if status == REVEALING:
            return [p for p in self.parties if p not in self.reveals]
        if status == OVERLAP and self.split_agreed:
            if self.mask is None:
                return [self.parties[1]]
            if self.midpoint is None:
                return [self.parties[0]]
        return []

    def summary(self) -> dict[str, Any]:
        return {"check_id": self.check_id, "issue_id": self.issue_id, "round_id": self.round_id,
                "parties": list(self.parties), "split": self.split, "status": self.status,
                "committed": [p for p in self.parties if p in self.commits],
                "revealed": [p for p in self.parties if p in self.reveals],
                "waiting_for": self.waiting_for(), "split_agreed": self.split_agreed, "midpoint": self.midpoint,
                "aborted_by": self.aborted_by, "abort_reason": self.abort_reason}


@dataclass
class ZopaLedger:
    """Every check of a negotiation, the tries spent, and the events refused."""

    checks: dict[str, ZopaCheck] = field(default_factory=dict)
    #: (issue, round, party) -> the check its one commit went to
    tries: dict[tuple[str, str, str], str] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)

    def try_used(self, issue_id: str, round_id: str, party: str) -> str | None:
        return self.tries.get((issue_id, round_id, party))


def derive_ledger(entries: Iterable[Entry]) -> ZopaLedger:
    """Fold the readable zopa events (any order in; applied by log position) into a ledger.

    An event that breaks a rule is skipped and listed in ``violations`` (the log stays verifiable).
    """
    ledger = ZopaLedger()
    for entry in sorted(entries, key=lambda e: e.seq):
        if entry.type not in ZOPA_TYPES:
            continue
        try:
            _apply(ledger, entry)
        except (InputError, ProtocolError) as exc:
            ledger.violations.append(f"event {entry.seq} ({entry.type}) by {entry.author}: {exc.message}")
    return ledger


def _body(e: Entry) -> Any:
    """The typed body of a zopa event.

    Raises:
        ProtocolError: its content does not match its declaration (the message names the field).
    """
    try:
        return e.body
    except InputError as exc:
        raise ProtocolError(exc.message) from None


def _apply(ledger: ZopaLedger, e: Entry) -> None:
    c = _body(e)
    check_id = c.check_id
    if e.type == ZOPA_OPEN:
        _open(ledger, e, check_id)
        return
    check = ledger.checks.get(check_id)
    if check is None:
        raise ProtocolError("no such check")
    if e.party not in check.parties:
        raise ProtocolError("only a party of the check takes part in it")
    if set(e.audience) != set(check.parties):
        raise ProtocolError("a check's messages go to exactly its parties")
    if e.type == ZOPA_COMMIT:
        _commit(ledger, check, e)
    elif e.type == ZOPA_REVEAL:
        _reveal(check, e)
    elif e.type == ZOPA_UNMASK:
        if not (check.status == OVERLAP and check.split_agreed and e.party == check.parties[1]):
            raise ProtocolError("a split mask comes from the second party, after an overlap both agreed to split")
        if check.mask is not None:
            raise ProtocolError("the split mask was revealed already (a replay)")
        mask = c.mask
        if not mask.isdigit() or len(mask) > 700:
            raise ProtocolError("a split mask is a decimal number")
        check.mask = int(mask)
    elif e.type == ZOPA_SPLIT:
        if check.mask is None or e.party != check.parties[0] or check.midpoint is not None:
            raise ProtocolError("the split point comes once from the first party, after the mask")
        midpoint = c.midpoint
        if not _is_half_integer(midpoint):
            raise ProtocolError("a split point is a whole number or ends in .5")
        check.midpoint = midpoint
    elif e.type == ZOPA_ABORT:
        if check.status in (OVERLAP, NO_OVERLAP) or check.aborted_by is not None:
            raise ProtocolError("the check is over already")
        reason = c.reason
        check.aborted_by, check.abort_reason = e.party, reason if isinstance(reason, str) else ""
        check.abort_reason = check.abort_reason[:500]


def _open(ledger: ZopaLedger, e: Entry, check_id: str) -> None:
    c = _body(e)
    if check_id in ledger.checks:
        raise ProtocolError("a check with this id exists already (a replay)")
    parties = c.parties
    if not 2 <= len(parties) <= MAX_PARTIES or len(set(parties)) != len(parties):
        raise ProtocolError(f"a check has 2 to {MAX_PARTIES} distinct parties")
    if parties[0] != e.party:
        raise ProtocolError("the party that opens a check comes first in it")
    if set(e.audience) != set(parties):
        raise ProtocolError("a check's messages go to exactly its parties")
    split = c.split
    if split not in (None, SPLIT_MIDPOINT) or (split and len(parties) != 2):
        raise ProtocolError("a split point is offered only between two parties ('midpoint')")
    if e.authority != "head":
        raise ProtocolError("only a head of delegation opens a check")
    ledger.checks[check_id] = ZopaCheck(check_id, c.issue_id, c.round_id, tuple(parties), split, e.party)


def _commit(ledger: ZopaLedger, check: ZopaCheck, e: Entry) -> None:
    c = _body(e)
    if e.authority != "head":
        raise ProtocolError("only a head of delegation commits a reservation value")
    if check.aborted_by is not None:
        raise ProtocolError("the check was aborted")
    if e.party in check.commits:
        raise ProtocolError("this party committed in this check already (a replay)")
    spent = ledger.try_used(check.issue_id, check.round_id, e.party)
    if spent is not None:
        raise ProtocolError(f"second attempt refused: this party used its one try on issue {check.issue_id} in "
                            f"round {check.round_id} (check {spent})")
    if check.next_committer() != e.party:
        raise ProtocolError("parties commit in the check's order")
    if c.direction not in cmp.DIRECTIONS:
        raise ProtocolError("a commit names its direction (at-least or at-most)")
    position = check.parties.index(e.party)
    last = position == len(check.parties) - 1
    parsed: dict[str, Any] = {"direction": c.direction, "split_consent": c.split_consent}
    if not last:
        public = cmp.public_key_from_b64(c.key)
        parsed["key"] = public
        parsed["bits"] = cmp.ciphertexts_from_b64(public, c.bits, cmp.BITS, "the encrypted bits")
        if position == 0 and c.value is not None:
            parsed["value"] = cmp.ciphertexts_from_b64(public, [c.value], 1, "the encrypted value")[0]
    elif c.key is not None or c.bits is not None:
        raise ProtocolError("the last party of a check answers, it sends no bits")
    replies = c.replies
    earlier = check.parties[:position]
    if set(replies) != set(earlier):
        raise ProtocolError("a commit answers every earlier party of the check, and only them")
    parsed["replies"] = {}
    for holder in earlier:
        reply, key = replies[holder], check.commits[holder]["key"]
        answer = {"blinded": cmp.ciphertexts_from_b64(key, reply.blinded, cmp.BITS, "the blinded answer")}
        if reply.sum is not None:
            answer["sum"] = cmp.ciphertexts_from_b64(key, [reply.sum], 1, "the masked sum")[0]
        parsed["replies"][holder] = answer
    check.commits[e.party] = parsed
    ledger.tries[(check.issue_id, check.round_id, e.party)] = check.check_id


def _reveal(check: ZopaCheck, e: Entry) -> None:
    if check.next_committer() is not None:
        raise ProtocolError("shares are revealed only once every party committed")
    if e.party in check.reveals:
        raise ProtocolError("this party revealed its shares already (a replay)")
    shares = _body(e).shares
    others = [p for p in check.parties if p != e.party]
    if set(shares) != set(others):
        raise ProtocolError("a reveal holds one share for every other party of the check")
    if any(value not in (0, 1) for value in shares.values()):
        raise ProtocolError("a share is 0 or 1")
    check.reveals[e.party] = dict(shares)


def _is_half_integer(text: str) -> bool:
    whole, dot, half = text.partition(".")
    return whole.isdigit() and len(whole) <= 12 and (not dot or half == "5")


def midpoint_text(total: int) -> str:
    """``(a + b) / 2`` written exactly: a whole number, or one ending in .5."""
    return str(total // 2) + (".5" if total % 2 else "")
