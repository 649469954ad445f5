"""History grants: earlier content re-encrypted, by a head of the owning party, to a new device or a late party.

Encryption is forward-only: a device linked today, or a party admitted late, cannot read what was posted
before. A head of delegation may grant it, and only as the party allows: a ``history.grant`` event in the
log (so every grant is recorded, and the relay, which holds no plaintext, can grant nothing), encrypted to
the grantee devices only, carrying the earlier events' decrypted bodies by event id.

Each device applies a grant it can read (``apply_grants``, after every sync) only when it follows the rule:

- the grant is authored with head authority by a head of delegation of party G, and comes after the events;
- each granted event was written by G (the author's party shares its own words with anyone in the
  negotiation), or the grantee is of G and G was in the event's audience (a party passes what it received
  to its own new device);
- the grantee's role is one the event's audience allowed (heads-only sections stay with heads).

Anything else is refused and reported, and stays unreadable, as does everything never granted. A granted
body is shown as granted (by whom, in which event): the grantee cannot check it against the original
ciphertext, which was never encrypted to it; it relies on the granting head. A copy traced for leaks
(``parley.client.tracing``) is granted as the granting head's own copy, with that head's marks.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from parley.errors import ForbiddenError, InputError, NotFoundError, ParleyError, ProtocolError
from parley.protocol.events import Envelope
from parley.protocol.record_bodies import GrantedEvent, HistoryGrant, decode_record

GRANT = "history.grant"
_TABLE = """CREATE TABLE IF NOT EXISTS grants_applied (negotiation_id TEXT PRIMARY KEY, upto INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS grants_refused (negotiation_id TEXT NOT NULL, grant_seq INTEGER NOT NULL,
    event_seq INTEGER NOT NULL, reason TEXT NOT NULL, PRIMARY KEY (negotiation_id, grant_seq, event_seq));"""
#: events one grant may carry (a grant is one event; the limits of an event's size apply too)
MAX_GRANTED_EVENTS = 500
#: the share (%) of one ciphertext's limit the granted events' JSON may fill: the rest is the body's own fields,
#: its padding (Padme: at most 3.2 % at this size) and age's framing
GRANT_SHARE_OF_A_CIPHERTEXT = 75


def grant_history(client: Any, negotiation_id: str, *, devices: Iterable[str] | None = None,
                  party: str | None = None, seqs: Iterable[int] | None = None) -> list[Any]:
    """Re-encrypt earlier events this head may grant to ``devices`` (device key ids) or to every current
    member of ``party``; ``seqs`` limits it to those positions (default: every event it may grant that the
    grantees could not read). One ``history.grant`` event per audience role filter. Returns what was posted.

    Raises:
        ForbiddenError: not a head of delegation.
        InputError: neither or both of devices and party; a grantee outside the negotiation; nothing to grant.
    """
    if client.profile.role != "head":
        raise ForbiddenError("only a head of delegation grants earlier content")
    if (devices is None) == (party is None):
        raise InputError("grant to devices or to a party, one of the two")
    with client.lock:
        state = client.sync_state(negotiation_id)
        now = client.clock()
        if party is not None:
            if party not in state.joined_parties():
                raise InputError("that party is not in this negotiation")
            targets = [c for c in state.current_members(now, [party])]
        else:
            wanted = set(devices or ())
            targets = [c for c in state.current_members(now) if c.device_key_id in wanted]
            if len(targets) != len(wanted):
                raise InputError("a device to grant to is not a current member of this negotiation")
        if not targets:
            raise InputError("nobody to grant to")
        own = client.profile.party.party_id
        wanted_seqs = None if seqs is None else set(seqs)
        # First the positions to grant, from headers and bodies without a file's chunk data (``iter_timeline``);
        # then the whole bodies, read one at a time as each grant is filled: a file's chunks (512 KiB each) are
        # never all in memory.
        groups: dict[tuple[str, ...] | None, list[tuple[int, str]]] = {}
        for seq, header, body, _ in client.cache.iter_timeline(negotiation_id):
            if body is None or body.get("type") == GRANT or header.get("public") is not None:
                continue
            if wanted_seqs is not None and seq not in wanted_seqs:
                continue
            author = state.members.get(header["author"])
            audience_parties = set(header["audience"]["parties"])
            roles = header["audience"].get("roles")
            mine = author is not None and author.party_id == own
            readers = {r for ref in header["ciphertexts"] for r in ref["recipients"]}
            for cert in targets:
                if cert.device_key_id in readers:
                    continue
                if not (mine or (cert.party_id == own and own in audience_parties)):
                    continue
                if roles is not None and cert.role not in roles:
                    continue
                key = None if roles is None else tuple(sorted(roles))
                # A grantee of a party outside the audience holds only the hidden entry: give it the header.
                item = (seq, _event_id({"header": header}), any(c.party_id not in audience_parties for c in targets))
                if item not in groups.setdefault(key, []):
                    groups[key].append(item)
        if not groups:
            raise InputError("nothing to grant: the grantees read all of it already, or none of it is yours to grant")
        posted = []
        target_ids = {c.device_key_id for c in targets}
        parties = sorted({c.party_id for c in targets})
        budget = client.limits.max_ciphertext_bytes * GRANT_SHARE_OF_A_CIPHERTEXT // 100
        for roles, positions in groups.items():
            for batch in _batches(client, negotiation_id, positions, budget):
                posted.append(client.post(negotiation_id, GRANT, {"grants": batch}, parties=parties,
                                          roles=None if roles is None else list(roles), authority="head",
                                          devices=target_ids))
        return posted


def _batches(client: Any, negotiation_id: str, positions: list[tuple[int, str, bool]], budget: int
             ) -> Iterator[list[dict[str, Any]]]:
    """The granted events in grants of at most ``MAX_GRANTED_EVENTS`` events and about ``budget`` bytes of
    JSON each, the bodies read from the local copy as each grant is filled (one event alone may exceed the
    budget; its grant then holds it alone)."""
    batch: list[dict[str, Any]] = []
    size = 0
    for seq, event_id, with_header in positions:
        body = client.cache.body_at(negotiation_id, seq)
        if body is None:
            continue
        item = {"seq": seq, "event_id": event_id, "type": body["type"], "content": body["content"]}
        if with_header:
            (stored,) = client.cache.db.execute(
                "SELECT json_object('header', json_extract(envelope, '$.header'), 'signature', "
                "json_extract(envelope, '$.signature')) FROM events WHERE negotiation_id=? AND seq=?",
                (negotiation_id, seq)).fetchone()
            item.update(json.loads(stored))
        item_size = len(json.dumps(item, ensure_ascii=False).encode())
        if batch and (size + item_size > budget or len(batch) >= MAX_GRANTED_EVENTS):
            yield batch
            batch, size = [], 0
        batch.append(item)
        size += item_size
    if batch:
        yield batch


def apply_grants(client: Any, negotiation_id: str) -> list[dict[str, Any]]:
    """Apply the grants this device can read that follow the rule (module docstring): the granted bodies are
    stored in the local copy, marked as granted. Returns the refusals found this time.
    """
    db = client.cache.db
    db.executescript(_TABLE)
    row = db.execute("SELECT upto FROM grants_applied WHERE negotiation_id=?", (negotiation_id,)).fetchone()
    upto = -1 if row is None else row[0]
    # Grants only, their type read inside the database: the rest (a large attachment's chunks) is never loaded;
    # then one grant at a time (a grant of a file's chunks holds up to a ciphertext's worth of it).
    grant_seqs = [seq for (seq,) in db.execute(
        "SELECT seq FROM events WHERE negotiation_id=? AND seq>? AND body IS NOT NULL "
        "AND json_extract(body, '$.type') = ? ORDER BY seq", (negotiation_id, upto, GRANT))]
    last = client.cache.last_seq(negotiation_id)
    refused: list[dict[str, Any]] = []
    if not grant_seqs:
        _mark(db, negotiation_id, last)
        return refused
    state = client.state(negotiation_id)
    me = client.identity.certificate
    for grant_seq in grant_seqs:
        env_text, body_text = db.execute("SELECT envelope, body FROM events WHERE negotiation_id=? AND seq=?",
                                         (negotiation_id, grant_seq)).fetchone()
        body = json.loads(body_text)
        if body.get("type") != GRANT:
            continue
        env = json.loads(env_text)
        grantor = state.members.get(env["header"]["author"])
        try:
            items = decode_record(HistoryGrant, body.get("content")).grants
        except InputError:
            continue
        for raw in items:
            try:
                item: GrantedEvent | None = decode_record(GrantedEvent, raw)
            except InputError:
                item = None
            reason = _refusal(client, state, negotiation_id, env, grantor, me, grant_seq, item)
            event_seq = item.seq if item is not None else -1
            if reason is not None or item is None:  # a malformed item always has a reason
                refused.append({"grant_seq": grant_seq, "event_seq": event_seq, "reason": reason})
                with db:
                    db.execute("INSERT OR IGNORE INTO grants_refused VALUES (?,?,?,?)",
                               (negotiation_id, grant_seq, event_seq, reason))
                continue
            granted = {"type": item.type, "content": item.content,
                       "granted_by": grantor.member, "granted_in": grant_seq}
            with db:
                if item.header is not None:  # the hidden entry becomes the event (same id, same Merkle leaf)
                    db.execute("UPDATE events SET envelope=? WHERE negotiation_id=? AND seq=? "
                               "AND json_extract(envelope, '$.hidden') IS NOT NULL",
                               (json.dumps(_revealed(item).to_obj()), negotiation_id, event_seq))
                db.execute("UPDATE events SET body=? WHERE negotiation_id=? AND seq=? AND body IS NULL",
                           (json.dumps(granted), negotiation_id, event_seq))
    _mark(db, negotiation_id, last)
    client._states.pop(negotiation_id, None)
    return refused


def refused_grants(client: Any, negotiation_id: str) -> list[dict[str, Any]]:
    """Every grant item this device refused in ``negotiation_id``, with the reason."""
    db = client.cache.db
    db.executescript(_TABLE)
    return [{"grant_seq": g, "event_seq": e, "reason": r} for g, e, r in db.execute(
        "SELECT grant_seq, event_seq, reason FROM grants_refused WHERE negotiation_id=? ORDER BY grant_seq, event_seq",
        (negotiation_id,))]


def _refusal(client: Any, state: Any, negotiation_id: str, env: dict[str, Any], grantor: Any, me: Any,
             grant_seq: int, item: GrantedEvent | None) -> str | None:
    """Why a granted event (None: one that does not match its declaration) is refused, or None."""
    if grantor is None or grantor.role != "head" or env["header"].get("authority") != "head":
        return "granted by someone who is not a head of delegation"
    if item is None:
        return "a malformed grant"
    seq = item.seq
    if seq >= grant_seq:
        return "a grant of a later event"
    rows = client.cache.db.execute("SELECT envelope FROM events WHERE negotiation_id=? AND seq=?",
                                   (negotiation_id, seq)).fetchone()
    if rows is None:
        return "a grant of an event not in the log"
    original = json.loads(rows[0])
    if "hidden" in original:  # this device's party was outside the event's audience: the grant shows the header
        if original["hidden"]["event"] != item.event_id:
            return "a grant naming another event than the one at that position"
        if item.header is None or item.signature is None:
            return "a grant of an event hidden from this device, without the event's header"
        try:
            revealed = _revealed(item)
            author = state.members.get(revealed.header.author)
            if author is None:
                raise ProtocolError("unknown author")
            revealed.verify_signature(author.signing_key)
        except ParleyError:
            return "a grant whose header is not the event's, as its author signed it"
        if revealed.event_id != item.event_id:
            return "a grant whose header is not the event's, as its author signed it"
        original = revealed.to_obj()
    if _event_id(original) != item.event_id:
        return "a grant naming another event than the one at that position"
    header = original["header"]
    author = state.members.get(header["author"])
    owner = grantor.party_id
    audience = set(header["audience"]["parties"])
    if not ((author is not None and author.party_id == owner) or (me.party_id == owner and owner in audience)):
        return f"'{grantor.member}' granted an event that is not its party's to grant"
    roles = header["audience"].get("roles")
    if roles is not None and me.role not in roles:
        return "a grant of content restricted to other roles"
    return None


def _revealed(item: GrantedEvent) -> Envelope:
    """The event a grant shows in full (header and signature, no ciphertext).

    Raises:
        InputError / LimitError: a malformed header.
    """
    header = item.header or {}
    refs = header.get("ciphertexts")
    return Envelope.from_obj({"header": header, "signature": item.signature,
                              "ciphertexts": [None] * (len(refs) if isinstance(refs, list) else 0)})


def _mark(db: Any, negotiation_id: str, upto: int) -> None:
    with db:
        db.execute("INSERT INTO grants_applied VALUES (?,?) ON CONFLICT(negotiation_id) DO UPDATE SET upto=excluded.upto",
                   (negotiation_id, upto))


def _event_id(env: dict[str, Any]) -> str:
    import hashlib

    from parley.crypto.canonical import canonical_bytes

    return hashlib.sha256(canonical_bytes(env["header"])).hexdigest()


__all__ = ["GRANT", "NotFoundError", "apply_grants", "grant_history", "refused_grants"]
