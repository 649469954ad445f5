"""Party-level trust on the client: a head's fingerprint verification recorded for its delegation, and shown.

``record_party_trust`` posts a ``trust.verify`` event (audience: own party, head authority) into every
negotiation of this profile that the other party is in; ``trust_rows`` folds those events with
``parley.protocol.trust`` for the screen: verified or not, by whom and when, or on this device only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from parley.client.acts import act
from parley.client.entries import entries
from parley.errors import ForbiddenError, InputError
from parley.protocol.trust import TRUST_VERIFY, derive_party_trust, effective_trust

if TYPE_CHECKING:
    from parley.client.sdk import Client


@act
def record_party_trust(client: Client, party_id: str, verified: bool) -> int:
    """Record this head's verification (or its withdrawal) of ``party_id`` for the whole party, in every
    negotiation of this profile where both parties are in. Returns how many negotiations got the record.

    Raises:
        ForbiddenError: this member is not a head of delegation.
        InputError: the party is not pinned on this device.
    """
    if client.profile.role != "head":
        raise ForbiddenError("only a head of delegation records a verification for the whole party")
    pinned = client.profile.trust.get(party_id)
    if pinned is None:
        raise InputError(f"party {party_id} is not pinned on this device", hint="fetch it first: parley party show")
    return sum(record_party_trust_in(client, negotiation_id, party_id, verified)
               for negotiation_id in client.cache.negotiations())


@act
def record_party_trust_in(client: Client, negotiation_id: str, party_id: str, verified: bool) -> bool:
    """Record it in one negotiation, if both parties are in and the pinned key is the party's there.
    Returns whether a record was posted. A head's device only (see ``record_party_trust``)."""
    own = client.profile.party.party_id
    pinned = client.profile.trust.get(party_id)
    state = client.sync_state(negotiation_id)
    mine, theirs = state.parties.get(own), state.parties.get(party_id)
    if (pinned is None or mine is None or mine.status != "joined" or theirs is None
            or pinned.root_key not in theirs.root_chain):
        return False
    client.post(negotiation_id, TRUST_VERIFY, {"party_id": party_id, "root_key": pinned.root_key,
                                               "verified": verified}, parties=[own], authority="head")
    return True


@act
def carry_party_trust(client: Client, negotiation_id: str) -> int:
    """On a head's device: record, in this negotiation, each verification this device made of a party in it
    that the party has no record of here yet (it joined later, or the head verified before the talks).
    A record already there (perhaps another head's withdrawal) is never overridden. Returns how many."""
    if client.profile.role != "head":
        return 0
    state = client.state(negotiation_id)
    own = client.profile.party.party_id
    if own not in state.joined_parties():
        return 0
    records, _ = derive_party_trust(entries(client, negotiation_id, frozenset({TRUST_VERIFY})), own)
    carried = 0
    for party_id in [p for p, party in state.parties.items() if party.status in ("invited", "joined")]:
        pinned = client.profile.trust.get(party_id)
        if party_id != own and party_id not in records and pinned is not None and pinned.verified:
            carried += record_party_trust_in(client, negotiation_id, party_id, True)
    return carried


def trust_rows(client: Client, negotiation_id: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Each party of a negotiation with what this device shows for it, from the local verified copy.

    Returns ``(rows, violations)``; a row has ``party_id, name, status, own, verified, source`` ("own",
    "party": recorded by a head of this party, "device": verified on this device only, or None), and
    ``by`` / ``at`` for a party-level record.
    """
    state = client.state(negotiation_id)
    own = client.profile.party.party_id
    records, violations = derive_party_trust(entries(client, negotiation_id, frozenset({TRUST_VERIFY})), own)
    rows = []
    for party_id, party in state.parties.items():
        pinned = client.profile.trust.get(party_id)
        if party_id == own:
            shown = {"verified": True, "source": "own", "by": None, "at": None}
        else:
            shown = effective_trust(records.get(party_id), party.root_chain, bool(pinned and pinned.verified))
        rows.append({"party_id": party_id, "name": party.record.name, "status": party.status,
                     "own": party_id == own, **shown})
    return rows, violations


def describe(row: dict[str, Any]) -> str:
    """'verified by Head of delegation (your party), 2026-...', 'UNVERIFIED (withdrawn by ...)', ..."""
    if row["source"] == "own":
        return "your party"
    if row["source"] == "party":
        if row["verified"]:
            return f"verified by {row['by']} (your party), {row['at']}"
        return f"UNVERIFIED (trust withdrawn by {row['by']} (your party), {row['at']})"
    return "verified on this device" if row["verified"] else "UNVERIFIED"
