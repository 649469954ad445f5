"""``parley zopa`` on the client: open a check, commit a private reservation value, and move the check on.

Everything secret (the value, the Paillier private key, the comparison shares and masks) stays on the
committing device, sealed with age to that device's own key in ``<profile>/zopa/<check>.age`` and
deleted once the check is over. Everything sent is an ordinary end-to-end encrypted parley event to
the check's parties (see ``parley.protocol.zopa``); the relay sees age ciphertexts only.

Each call syncs with full verification first, so it acts on the log as every party will see it.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from parley.client.workflow import Negotiation
from parley.crypto import comparison as cmp
from parley.crypto.seal import open_sealed, seal
from parley.errors import ConflictError, ForbiddenError, InputError, NotFoundError, ProtocolError
from parley.protocol import zopa as z


class ZopaDesk:
    """The zopa checks of one negotiation, as one head of delegation's client drives them."""

    def __init__(self, negotiation: Negotiation) -> None:
        self.negotiation = negotiation
        self.client = negotiation.client

    # ---- reading ------------------------------------------------------------------------------------
    def ledger(self, *, sync: bool = True) -> z.ZopaLedger:
        if sync:
            self.client.sync(self.negotiation.id)
        return z.derive_ledger(self.negotiation.entries(z.ZOPA_TYPES))

    def check(self, check_id: str, *, sync: bool = True) -> z.ZopaCheck:
        """Raises: NotFoundError for an unknown (or unreadable) check."""
        found = self.ledger(sync=sync).checks.get(check_id)
        if found is None:
            raise NotFoundError(f"no zopa check '{check_id}' in this negotiation")
        return found

    def status(self, check_id: str) -> dict[str, Any]:
        """The check's public state, with party names and what this party owes next."""
        check = self.check(check_id)
        names = self.negotiation.party_names()
        summary = check.summary()
        summary["party_names"] = {p: names.get(p, p) for p in check.parties}
        issue = self.negotiation.views().issues.get(check.issue_id)
        summary["issue"] = check.issue_id if issue is None else issue.title
        summary["my_turn"] = self.own_party in check.waiting_for() and self._owes(check)
        return summary

    def checks(self) -> list[dict[str, Any]]:
        ledger = self.ledger()
        return [self._summary_of(c) for c in ledger.checks.values()]

    def _summary_of(self, check: z.ZopaCheck) -> dict[str, Any]:
        names = self.negotiation.party_names()
        return {**check.summary(), "party_names": {p: names.get(p, p) for p in check.parties}}

    @property
    def own_party(self) -> str:
        return self.client.profile.party.party_id

    # ---- acting -------------------------------------------------------------------------------------
    def open(self, issue_id: str, parties: list[str], *, split: bool = False) -> str:
        """Open a check on an open agenda issue with the other ``parties`` (names or ids); returns its id.

        Raises:
            NotFoundError: unknown issue or party.  InputError: a closed issue, too few or repeated parties,
            a split asked for more than two parties.  ForbiddenError: not a head of delegation.
        """
        self._require_head()
        views = self.negotiation.fresh_views()
        issue = views.issues.get(issue_id)
        if issue is None:
            raise NotFoundError(f"no agenda issue '{issue_id}'")
        if issue.status != "open":
            raise InputError(f"issue '{issue_id}' is closed")
        others = [self.negotiation.party_id(p) for p in parties]
        ordered = [self.own_party, *others]
        if len(set(ordered)) != len(ordered) or not 2 <= len(ordered) <= z.MAX_PARTIES:
            raise InputError(f"a check has 2 to {z.MAX_PARTIES} distinct parties, this one included")
        if split and len(ordered) != 2:
            raise InputError("a split point is offered only between two parties")
        open_rounds = sorted((r.number, rid) for rid, r in views.rounds.items() if r.status == "open")
        round_id = open_rounds[-1][1] if open_rounds else z.NO_ROUND
        check_id = "zopa-" + secrets.token_hex(6)
        self.client.post(self.negotiation.id, z.ZOPA_OPEN,
                         {"check_id": check_id, "issue_id": issue_id, "round_id": round_id, "parties": ordered,
                          "split": z.SPLIT_MIDPOINT if split else None},
                         parties=ordered, authority="head")
        return check_id

    def commit(self, check_id: str, value: int, direction: str, *, allow_split: bool = False) -> dict[str, Any]:
        """Commit this party's private reservation value: its one try on the issue in this round.

        Raises:
            InputError: a value or direction out of range.  ConflictError: not this party's turn, or the
            try on this issue and round is spent (a second attempt).  ForbiddenError: not a head.
        """
        self._require_head()
        x = cmp.encode_bound(value, direction)
        ledger = self.ledger()
        check = ledger.checks.get(check_id)
        if check is None:
            raise NotFoundError(f"no zopa check '{check_id}' in this negotiation")
        me = self.own_party
        if me not in check.parties:
            raise ForbiddenError("this party is not in that check")
        spent = ledger.try_used(check.issue_id, check.round_id, me)
        if spent is not None:
            raise ConflictError(f"second attempt refused: this party already committed on issue {check.issue_id} "
                                f"in round {check.round_id} (check {spent}); one try per issue per round")
        if check.aborted_by is not None:
            raise ConflictError("the check was aborted")
        if check.next_committer() != me:
            raise ConflictError("not this party's turn to commit: the parties before it in the check go first")
        position = check.parties.index(me)
        secret: dict[str, Any] = {"value": value, "direction": direction, "shares": {}, "masks": {}}
        content: dict[str, Any] = {"check_id": check_id, "direction": direction, "split_consent": allow_split,
                                   "replies": {}}
        if position < len(check.parties) - 1:
            key = cmp.ComparisonKey.generate()
            secret["key"] = key.to_secret()
            content["key"] = key.public_b64()
            content["bits"] = cmp.ciphertexts_to_b64(key.public, cmp.encrypt_bits(key, x))
            if position == 0 and check.split and allow_split:
                content["value"] = cmp.ciphertexts_to_b64(key.public, [cmp.encrypt_value(key, value)])[0]
        for holder in check.parties[:position]:
            theirs = check.commits[holder]
            blinded, share = cmp.blind_comparison(theirs["key"], theirs["bits"], x)
            reply: dict[str, Any] = {"blinded": cmp.ciphertexts_to_b64(theirs["key"], blinded)}
            secret["shares"][holder] = share
            if check.split and allow_split and "value" in theirs:
                masked, mask = cmp.masked_sum(theirs["key"], theirs["value"], value)
                reply["sum"] = cmp.ciphertexts_to_b64(theirs["key"], [masked])[0]
                secret["masks"][holder] = str(mask)
            content["replies"][holder] = reply
        self._save_secret(check_id, secret)
        self.client.post(self.negotiation.id, z.ZOPA_COMMIT, content, parties=list(check.parties), authority="head")
        return self.advance(check_id)

    def advance(self, check_id: str) -> dict[str, Any]:
        """Post whatever this party owes next (its shares, the split mask, the split point); returns the status.

        Raises:
            NotFoundError: unknown check.  ProtocolError: this device holds no secret for a commit it made.
        """
        check = self.check(check_id)
        me = self.own_party
        if self._owes(check):
            secret = self._load_secret(check_id)
            if check.status == z.REVEALING and me not in check.reveals:
                self._reveal(check, secret)
            elif check.status == z.OVERLAP and check.split_agreed and me == check.parties[1] and check.mask is None:
                self._post(check, z.ZOPA_UNMASK, {"mask": secret["masks"][check.parties[0]]})
            elif check.status == z.OVERLAP and check.split_agreed and me == check.parties[0] and check.mask is not None:
                key = cmp.ComparisonKey.from_secret(secret["key"])
                total = cmp.unmask_sum(key, check.commits[check.parties[1]]["replies"][me]["sum"], check.mask)
                self._post(check, z.ZOPA_SPLIT, {"midpoint": z.midpoint_text(total)})
            check = self.check(check_id)
        if check.finished:
            self._forget_secret(check_id)
        return self.status(check_id)

    def abort(self, check_id: str, reason: str = "") -> dict[str, Any]:
        """Stop a check before its outcome (the try stays spent: it is in the log).

        Raises:
            ConflictError: the check is over.
        """
        check = self.check(check_id)
        if self.own_party not in check.parties:
            raise ForbiddenError("this party is not in that check")
        if check.status in (z.OVERLAP, z.NO_OVERLAP) or check.aborted_by is not None:
            raise ConflictError("the check is over already")
        self._post(check, z.ZOPA_ABORT, {"reason": reason[:500]})
        self._forget_secret(check_id)
        return self.status(check_id)

    # ---- internals ----------------------------------------------------------------------------------
    def _owes(self, check: z.ZopaCheck) -> bool:
        return self.own_party in check.waiting_for() and self.own_party in check.commits

    def _reveal(self, check: z.ZopaCheck, secret: dict[str, Any]) -> None:
        me, shares = self.own_party, {}
        for holder, responder in check.pairs():
            if holder == me:
                key = cmp.ComparisonKey.from_secret(secret["key"])
                shares[responder] = cmp.zero_share(key, check.commits[responder]["replies"][me]["blinded"])
            elif responder == me:
                shares[holder] = secret["shares"][holder]
        self._post(check, z.ZOPA_REVEAL, {"shares": shares})

    def _post(self, check: z.ZopaCheck, event_type: str, content: dict[str, Any]) -> None:
        self.client.post(self.negotiation.id, event_type, {"check_id": check.check_id, **content},
                         parties=list(check.parties), authority="head")

    def _require_head(self) -> None:
        if self.client.identity.certificate.role != "head":
            raise ForbiddenError("only a head of delegation takes part in a zopa check")

    def _secret_path(self, check_id: str) -> Path:
        return self.client.profile.home / "zopa" / f"{self.negotiation.id}-{check_id}.age"

    def _save_secret(self, check_id: str, secret: dict[str, Any]) -> None:
        path = self._secret_path(check_id)
        path.parent.mkdir(mode=0o700, exist_ok=True)
        blob = seal(json.dumps(secret).encode(), [self.client.identity.encryption.recipient])
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(blob)
        tmp.chmod(0o600)
        tmp.replace(path)

    def _load_secret(self, check_id: str) -> dict[str, Any]:
        path = self._secret_path(check_id)
        if not path.exists():
            raise ProtocolError("this device holds no secret for that check: only the device that committed "
                                "can move it on")
        return json.loads(open_sealed(path.read_bytes(), self.client.identity.encryption))

    def _forget_secret(self, check_id: str) -> None:
        self._secret_path(check_id).unlink(missing_ok=True)


__all__ = ["ZopaDesk"]
