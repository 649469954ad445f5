"""Working while the relay is away: reads from the verified local copy, acts into an outbox.

Only a client with ``offline_ok`` set (the CLI and the web UI set it; the SDK's default is to raise) works
this way, and only when the relay cannot be *reached* (``unreachable``: a transport failure, not a refusal):

- a sync that cannot reach the relay leaves the local copy as it is, verified up to its last checkpoint,
  and records it in ``client.offline`` (the checkpoint's size and when it was verified), so every view
  says it is "as of" that checkpoint;
- an act (``Client.post``) that cannot reach the relay goes to the outbox, a table of the encrypted local
  store, as what to post (type, content, audience, and each recipient's copy when copies differ), not as
  a signed event: the event is signed when posted, with a fresh time and the log's head then (an event
  signed hours before would be refused for its time). The act returns a pending ``Posted`` (seq -1).

An act made of several events (a memorandum and the chunk events of its files) is *staged* (``staged_act``):
its events go to the outbox first, invisible to ``flush``, and become pending together when the act is
complete, then are posted in order. An act cut short before that (an error, a crash) leaves nothing to post
and is forgotten; one cut short while posting (a crash, or the relay gone with an outbox to wait in) is
finished by the next flush (any later command). A part the relay refuses takes the rest of its act with it:
no act is posted without the parts it names.

``flush`` posts the outbox in order once the relay answers (every later act flushes first, so order is
kept). An item whose post reached the relay but whose answer was lost carries the id of the event that
was sent: if the log holds that event, the item is done and is not posted again. An item the relay or
the rules refuse now (a party that left, an audience that changed) is marked refused with the reason and
reported; the next ones still go. Nothing is dropped: every item ends posted or refused, and stays listed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from parley.errors import ERRORS_BY_CODE, InputError, ParleyError, RelayError, RelayRefusal, TransportError
from parley.protocol.times import format_time

_TABLES = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, negotiation_id TEXT NOT NULL, queued_at TEXT NOT NULL,
    event_type TEXT NOT NULL, params TEXT NOT NULL, sent_event_id TEXT, state TEXT NOT NULL,
    result TEXT);
CREATE TABLE IF NOT EXISTS verified_at (negotiation_id TEXT PRIMARY KEY, at TEXT NOT NULL);
"""


def unreachable(exc: BaseException) -> bool:
    """The relay could not be reached (as opposed to reached and refusing)."""
    return isinstance(exc, TransportError) and not isinstance(exc, RelayError)


def _db(client: Any) -> Any:
    db = client.cache.db
    if not getattr(client, "_offline_tables", False):
        db.executescript(_TABLES)
        if "act" not in {row[1] for row in db.execute("PRAGMA table_info(outbox)")}:
            with db:
                db.execute("ALTER TABLE outbox ADD COLUMN act TEXT")  # the staged act an item belongs to
        client._offline_tables = True
    return db


class StagedAct:
    """The events of one act, staged in the outbox (see ``staged_act``)."""

    def __init__(self, client: Any, name: str) -> None:
        self.client, self.name = client, name
        self.settled: dict[str, dict[str, Any]] = {}

    def posted(self, pending: Any) -> Any:
        """The ``Posted`` of an event of this act once the act was posted (``pending`` as the post returned it).
        Still pending (the relay out of reach, with an outbox to wait in): ``pending`` itself."""
        from parley.client.sync import Posted

        result = self.settled.get(pending.event_id)
        return pending if result is None else Posted(result["seq"], result["event_id"], result["seq"] + 1)


@contextmanager
def staged_act(client: Any) -> Iterator[StagedAct]:
    """Stage every ``Client.post`` of the block as one act, then post it: all of it, in order, or none of it.

    Run inside the profile lock (an ``@act``): staged items of an act that never completed are forgotten
    here, which no other process can be doing at the same time.

    Raises:
        the refusal of any part (nothing later in the act is posted); TransportError when the relay cannot be
        reached and the client has no outbox to wait in (``offline_ok`` off): the act is not posted (parts
        that went through are named by nothing). With an outbox, the act waits there instead, whole.
    """
    import secrets

    db = _db(client)
    with db:
        db.execute("DELETE FROM outbox WHERE state='staged'")  # an act cut short before it was complete
    stage = StagedAct(client, f"act-{secrets.token_hex(6)}")
    client._staging = stage.name
    try:
        yield stage
    except BaseException:
        with db:
            db.execute("DELETE FROM outbox WHERE state='staged' AND act=?", (stage.name,))
        raise
    finally:
        client._staging = None
    ids = [row[0] for row in db.execute("SELECT id FROM outbox WHERE act=? ORDER BY id", (stage.name,))]
    with db:
        # Row by row, by primary key: one UPDATE over all of them made the encrypted store hold every row it
        # rewrote (every chunk of a file) until it ended: sending 500 MB peaked at 787 MiB, 171 MiB now.
        db.executemany("UPDATE outbox SET state='pending' WHERE id=? AND state='staged'", [(i,) for i in ids])
    for item in flush(client):
        if item["id"] in ids and item["state"] == "posted":
            stage.settled[f"pending:{item['id']}"] = item
    states = dict(db.execute("SELECT id, state FROM outbox WHERE act=?", (stage.name,)).fetchall())
    refused = [i for i in ids if states.get(i) == "refused"]
    if refused:
        row = db.execute("SELECT result FROM outbox WHERE id=?", (refused[0],)).fetchone()
        cause = json.loads(row[0]) if row and row[0] else {}
        message = f"the act was refused: {cause.get('message', 'refused')}"
        if cause.get("error") == RelayRefusal.code:  # the relay's verdict stays the relay's (never a detection)
            raise RelayRefusal(message, status=cause.get("status", 422), relay_code=cause.get("relay_code", ""))
        raise ERRORS_BY_CODE.get(cause.get("error"), ParleyError)(message)
    waiting = [i for i in ids if states.get(i) == "pending"]
    if waiting and not client.offline_ok:
        # No outbox to wait in: the caller is told the act failed (and may make it again), so its rest is
        # dropped. Parts already posted stay in the log (append-only), named by no act: no reader sees them.
        with db:
            db.execute("DELETE FROM outbox WHERE act=? AND state='pending'", (stage.name,))
        raise TransportError(f"the relay cannot be reached: the act was not posted ({len(ids) - len(waiting)} of "
                             f"its {len(ids)} events went through, which nothing refers to)")


def mark_verified(client: Any, negotiation_id: str) -> None:
    """A sync just verified the relay's log: the local copy is current as of now."""
    client.offline.pop(negotiation_id, None)
    db = _db(client)
    with db:
        db.execute("INSERT INTO verified_at VALUES (?,?) ON CONFLICT(negotiation_id) DO UPDATE SET at=excluded.at",
                   (negotiation_id, format_time(_now(client))))


def as_of(client: Any, negotiation_id: str) -> dict[str, Any] | None:
    """The last verified checkpoint of the local copy: ``{"size", "verified_at"}`` (None: never verified)."""
    pinned = client.cache.checkpoint(negotiation_id)
    if pinned is None:
        return None
    row = _db(client).execute("SELECT at FROM verified_at WHERE negotiation_id=?", (negotiation_id,)).fetchone()
    return {"negotiation_id": negotiation_id, "size": pinned[0], "verified_at": None if row is None else row[0]}


def offline_sync(client: Any, negotiation_id: str, error: TransportError) -> Any:
    """The result of a sync that could not reach the relay: the local copy as it stands.

    Raises:
        TransportError: ``error``, when nothing of this negotiation was verified before.
    """
    from parley.client.sync import SyncResult

    mark = as_of(client, negotiation_id)
    if mark is None:
        raise error
    client.offline[negotiation_id] = mark
    pinned = client.cache.checkpoint(negotiation_id)
    return SyncResult(negotiation_id, 0, pinned[0], pinned[1], pinned[2])


def local_party(client: Any, party_id: str) -> tuple[Any, list[Any]]:
    """A party's record and current member certificates as the verified local copies know them (the relay's
    directory being out of reach): from every negotiation it is in here, and this device's own certificate.

    Raises:
        NotFoundError: no local copy knows the party.
    """
    from parley.errors import NotFoundError

    record, certs = None, {}
    if party_id == client.profile.party.party_id:
        record = client.profile.party
        certs[client.identity.device_key_id] = client.identity.certificate
    now = _now(client)
    for negotiation_id in client.cache.negotiations():
        state = client.state(negotiation_id)
        party = state.parties.get(party_id)
        if party is None:
            continue
        record = record or party.record
        for cert in state.members.values():
            if cert.party_id == party_id and cert.device_key_id not in state.revoked \
                    and cert.device_key_id not in certs and now <= _parse(cert.not_after):
                certs[cert.device_key_id] = cert
    if record is None:
        raise NotFoundError(f"party {party_id} is in no negotiation of the local copy (and the relay is away)")
    return record, sorted(certs.values(), key=lambda c: (c.member, c.device_key_id))


def _parse(text: str) -> datetime:
    from parley.protocol.times import parse_time

    return parse_time(text)


def enqueue(client: Any, negotiation_id: str, event_type: str, content: Any, *, parties: Any, roles: Any,
            authority: str, copies: Any, devices: Any, sent_event_id: str | None, act: str | None = None) -> Any:
    """Put an act in the outbox (with ``act``: staged, as a part of that act); returns its pending ``Posted``
    (seq -1, event id ``pending:<n>``)."""
    from parley.client.sync import Posted

    params: dict[str, Any] = {"content": content, "parties": None if parties is None else list(parties),
                              "roles": None if roles is None else list(roles), "authority": authority,
                              "devices": None if devices is None else sorted(devices)}
    if copies is not None:
        # Each current reader's copy, as the act made it now (the audience is checked again when posted).
        state = client.state(negotiation_id)
        audience = sorted(set(parties) if parties else state.joined_parties())
        readers = state.current_members(_now(client), audience, None if roles is None else sorted(set(roles)))
        params["copies"] = {cert.device_key_id: copies(cert) for cert in readers}
    db = _db(client)
    with db:
        cursor = db.execute("INSERT INTO outbox(negotiation_id, queued_at, event_type, params, sent_event_id, state, "
                            "act) VALUES (?,?,?,?,?,?,?)",
                            (negotiation_id, format_time(_now(client)), event_type, json.dumps(params),
                             sent_event_id, "pending" if act is None else "staged", act))
    return Posted(-1, f"pending:{cursor.lastrowid}", -1)


def pending_count(client: Any) -> int:
    return _db(client).execute("SELECT count(*) FROM outbox WHERE state='pending'").fetchone()[0]


def items(client: Any, negotiation_id: str | None = None) -> list[dict[str, Any]]:
    """Every item of the outbox, oldest first: id, negotiation, type, state (pending, posted, refused), result."""
    query = "SELECT id, negotiation_id, queued_at, event_type, state, result FROM outbox"
    args: tuple = ()
    if negotiation_id is not None:
        query += " WHERE negotiation_id=?"
        args = (negotiation_id,)
    return [{"id": i, "negotiation_id": n, "queued_at": q, "type": t, "state": s,
             "result": None if r is None else json.loads(r)}
            for i, n, q, t, s, r in _db(client).execute(query + " ORDER BY id", args)]


def flush(client: Any) -> list[dict[str, Any]]:
    """Post the outbox in order; stop (items left pending) at the first item the relay cannot be reached for.
    Returns the items settled this time, each posted (with its seq and event id) or refused (with why).
    """
    if getattr(client, "_flushing", False):
        return []
    db = _db(client)
    settled: list[dict[str, Any]] = []
    client._flushing = True
    try:
        with client.lock:
            # Without their contents: an act with a large file stages hundreds of chunk events, each read
            # when its turn comes.
            rows = db.execute("SELECT id, negotiation_id, event_type, sent_event_id, act FROM outbox "
                              "WHERE state='pending' ORDER BY id").fetchall()
            refused_acts: set[str] = set()
            for item_id, negotiation_id, event_type, sent_event_id, act_name in rows:
                if act_name is not None and act_name in refused_acts:
                    result = {"error": "refused", "message": "an earlier part of the same act was refused"}
                    _settle(db, item_id, "refused", result)
                    settled.append({"id": item_id, "negotiation_id": negotiation_id, "type": event_type,
                                    "state": "refused", **result})
                    continue
                try:
                    state = client.sync_state(negotiation_id)
                    if negotiation_id in client.offline:
                        break  # still unreachable
                    if sent_event_id and sent_event_id in state.event_index:
                        result = {"seq": state.event_index[sent_event_id], "event_id": sent_event_id}
                    else:
                        (params_text,) = db.execute("SELECT params FROM outbox WHERE id=?", (item_id,)).fetchone()
                        posted = _post(client, negotiation_id, event_type, json.loads(params_text), item_id)
                        result = {"seq": posted.seq, "event_id": posted.event_id}
                    _settle(db, item_id, "posted", result)
                    settled.append({"id": item_id, "negotiation_id": negotiation_id, "type": event_type,
                                    "state": "posted", **result})
                except ParleyError as exc:
                    if unreachable(exc):
                        break
                    result = {"error": exc.code, "message": exc.message}
                    if isinstance(exc, RelayRefusal):
                        result.update(status=exc.status, relay_code=exc.relay_code)
                    if act_name is not None:
                        refused_acts.add(act_name)
                    _settle(db, item_id, "refused", result)
                    settled.append({"id": item_id, "negotiation_id": negotiation_id, "type": event_type,
                                    "state": "refused", **result})
    finally:
        client._flushing = False
    return settled


def _post(client: Any, negotiation_id: str, event_type: str, params: dict[str, Any], item_id: int) -> Any:
    stored = params.get("copies")
    copies = None
    if stored is not None:
        def copies(cert: Any) -> Any:
            if cert.device_key_id not in stored:
                raise InputError(f"the audience changed while the relay was away: {cert.member} "
                                 "has no copy of this act; make it again")
            return stored[cert.device_key_id]
    try:
        return client.post(negotiation_id, event_type, params["content"], parties=params["parties"],
                           roles=params["roles"], authority=params["authority"], copies=copies,
                           devices=params["devices"])
    except TransportError as exc:
        envelope = getattr(exc, "envelope", None)
        if envelope is not None:
            db = _db(client)
            with db:
                db.execute("UPDATE outbox SET sent_event_id=? WHERE id=?", (envelope.event_id, item_id))
        raise


def _settle(db: Any, item_id: int, state: str, result: dict[str, Any]) -> None:
    """Record how an item ended; a posted item's contents go (the log holds them now: a file sent is not kept
    twice in the profile)."""
    with db:
        db.execute("UPDATE outbox SET state=?, result=?, params=CASE WHEN ?='posted' THEN '{}' ELSE params END "
                   "WHERE id=?", (state, json.dumps(result), state, item_id))


def _now(client: Any) -> datetime:
    now = client.clock()
    return now if now.tzinfo else now.replace(tzinfo=UTC)


__all__ = ["as_of", "enqueue", "flush", "items", "local_party", "mark_verified", "offline_sync", "pending_count", "unreachable"]
