"""A compromised relay for tests: the honest relay's answers, rewritten on their way back to one client.

``MaliciousRelay`` is an httpx transport that wraps the honest in-process relay
(every request still goes through it, authentication included) and rewrites the
JSON it answers. It acts like a real compromised operator: it can read the
relay's database and it holds the relay's checkpoint signing key, so it can
serve a whole forged log (events dropped, reordered, replayed or rewritten)
with a freshly signed checkpoint, matching consistency proofs and matching
acknowledgements. Every attack is off until a test switches it on; with none
on, the transport is honest.

Attacks (attributes, each ``None`` when off):

``events``        rewrite the events of a listing page (checkpoint left alone: a lazy relay).
``forge``         rewrite the whole log the client is shown; the relay re-signs a checkpoint over it
                  and answers listings, checkpoints, consistency proofs and acknowledgements from it.
                  It runs on every request, so it must be deterministic (build made-up events once).
``old_checkpoint`` serve this earlier (genuine, signed) checkpoint note and only the events it covers.
``ack``           rewrite the acknowledgement of a posted event.
``consistency``   rewrite a consistency proof answer (also the proof a listing carries).
``party``         rewrite a directory answer (``GET /v1/parties/{id}``).
``parties``       rewrite the directory listing (``GET /v1/parties``).
``refuse``        ``(kind, status, code, message)``: answer requests of that kind (a name of ``_ROUTES``) with
                  this error instead, as if the relay's own checks had refused them.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

import httpx

from parley.crypto.canonical import canonical_bytes
from parley.protocol.events import hidden_leaf_bytes
from parley.relay.app import Relay
from parley.tlog import merkle
from parley.tlog.checkpoint import Checkpoint, checkpoint_origin, open_checkpoint, sign_checkpoint

Json = dict[str, Any]
EventItem = dict[str, Any]  # one listing entry: {"seq", "received_at", "event": {header, signature, ciphertexts}}

_ROUTES = [
    ("GET", re.compile(r"^/v1/negotiations/([^/]+)/events$"), "events"),
    ("POST", re.compile(r"^/v1/negotiations/([^/]+)/events$"), "ack"),
    ("POST", re.compile(r"^/v1/negotiations$"), "ack"),
    ("GET", re.compile(r"^/v1/negotiations/([^/]+)/proof/consistency$"), "consistency"),
    ("GET", re.compile(r"^/v1/negotiations/([^/]+)/checkpoint$"), "checkpoint"),
    ("GET", re.compile(r"^/v1/parties/([^/]+)$"), "party"),
    ("GET", re.compile(r"^/v1/parties$"), "parties"),
]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def leaf_of(item: EventItem) -> bytes:
    """The Merkle leaf hash of a listing entry: a hidden entry, or the hidden form of a version 2 encrypted event,
    or (version 1 and public events) the canonical header with signature."""
    if "hidden" in item:
        hidden = item["hidden"]
        return merkle.leaf_hash(hidden_leaf_bytes(hidden["event"], hidden["nonce"], tuple(hidden["tags"])))
    event = item["event"]
    header = event["header"]
    if header.get("tags") is not None:
        return merkle.leaf_hash(hidden_leaf_bytes(event_id_of(item), header["nonce"], tuple(header["tags"])))
    return merkle.leaf_hash(canonical_bytes({"header": header, "signature": event["signature"]}))


def event_id_of(item: EventItem) -> str:
    if "hidden" in item:
        return item["hidden"]["event"]
    return hashlib.sha256(canonical_bytes(item["event"]["header"])).hexdigest()


class ForgedLog:
    """A log the relay made up, with its tree and a checkpoint signed by the relay's own key."""

    def __init__(self, relay: Relay, negotiation_id: str, items: list[EventItem]) -> None:
        self.items = items = [dict(item) for item in items]  # an item served twice gets two positions
        for seq, item in enumerate(items):
            item["seq"] = seq
        self.tree = merkle.MemoryNodeStore()
        self.tree.put(merkle.append_many(0, [leaf_of(i) for i in items], self.tree))
        self.size = len(items)
        self.root = merkle.root_from_nodes(self.size, self.tree) if self.size else merkle.EMPTY_ROOT
        origin = checkpoint_origin(relay.name, negotiation_id)
        self.note = sign_checkpoint(Checkpoint(origin, self.size, self.root), relay.signer)

    def index_of(self, event_id: str) -> int:
        return next(i for i, item in enumerate(self.items) if event_id_of(item) == event_id)


class MaliciousRelay(httpx.BaseTransport):
    """The relay one client talks to, compromised. See the module docstring for the attacks."""

    def __init__(self, inner: httpx.BaseTransport, relay: Relay, reader: str | None) -> None:
        self.inner = inner
        self.relay = relay
        self.reader = reader  # the device whose view this is (which ciphertexts the listing carries)
        self.notes: list[str] = []  # every checkpoint handed out, in order (to replay an old one later)
        self.fired: list[str] = []  # which rewrites actually happened (so a test cannot pass vacuously)
        self.honest()

    def honest(self) -> None:
        """Switch every attack off."""
        self.events: Callable[[list[EventItem]], list[EventItem]] | None = None
        self.forge: Callable[[list[EventItem]], list[EventItem]] | None = None
        self.old_checkpoint: str | None = None
        self.ack: Callable[[Json], Json] | None = None
        self.consistency: Callable[[Json], Json] | None = None
        self.party: Callable[[Json], Json] | None = None
        self.parties: Callable[[Json], Json] | None = None
        self.refuse: tuple[str, int, str, str] | None = None

    # ---- the relay's own data, as its operator sees it ---------------------------------------------
    def full_log(self, negotiation_id: str) -> list[EventItem]:
        """The honest log as the listing would serve it to ``reader`` (read straight from the database)."""
        rows = self.relay.store.events(negotiation_id, -1, 10**9, reader=self.reader)
        items = []
        for row in rows:
            header = json.loads(row.header)
            blobs = [_b64(row.ciphertexts[i]) if i in row.ciphertexts else None
                     for i in range(len(header["ciphertexts"]))]
            items.append({"seq": row.seq, "received_at": row.received_at,
                          "event": {"header": header, "signature": row.signature, "ciphertexts": blobs}})
        return items

    def forged_log(self, negotiation_id: str) -> ForgedLog:
        assert self.forge is not None
        return ForgedLog(self.relay, negotiation_id, self.forge(copy.deepcopy(self.full_log(negotiation_id))))

    # ---- transport ------------------------------------------------------------------------------------
    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.refuse is not None:
            kind, status, code, message = self.refuse
            if any(request.method == m and pattern.match(request.url.path) and k == kind for m, pattern, k in _ROUTES):
                self.fired.append("refuse")
                return httpx.Response(status, json={"error": code, "message": message}, request=request)
        response = self.inner.handle_request(request)
        for method, pattern, kind in _ROUTES:
            match = pattern.match(request.url.path)
            if request.method != method or not match:
                continue
            # What the lie needs may not exist at the honest relay (a party, a size of the forged log).
            invents = (kind == "party" and self.party is not None) or (
                self.forge is not None and kind in ("events", "checkpoint", "consistency"))
            if not response.content or (response.status_code >= 400 and not invents):
                return response
            target = match.group(1) if pattern.groups else None
            answer = self._rewrite(kind, target, request, json.loads(response.content))
            if isinstance(answer, dict) and isinstance(answer.get("checkpoint"), str):
                self.notes.append(answer["checkpoint"])
            status = 200 if response.status_code >= 400 else response.status_code
            return httpx.Response(status, json=answer, request=request)
        return response

    def close(self) -> None:
        pass  # the honest transport belongs to the test world

    def _rewrite(self, kind: str, target: str | None, request: httpx.Request, answer: Json) -> Json:
        params = request.url.params
        if kind == "events":
            if self.forge is not None:
                forged = self.forged_log(target)
                after, limit = int(params.get("after", -1)), int(params.get("limit", 1000))
                answer = {"negotiation_id": target, "size": forged.size, "checkpoint": forged.note,
                          "events": forged.items[after + 1:after + 1 + limit]}
                if "consistency_from" in params:
                    first = int(params["consistency_from"])
                    answer["consistency_proof"] = None if first > forged.size else [
                        _b64(p) for p in merkle.consistency_proof(first, forged.size, forged.tree)]
                self.fired.append("forge")
            elif self.old_checkpoint is not None:
                size = open_checkpoint(self.old_checkpoint, [self.relay.signer.vkey()], None).size
                answer = {**answer, "size": size, "checkpoint": self.old_checkpoint,
                          "events": [e for e in answer["events"] if e["seq"] < size]}
                self.fired.append("old_checkpoint")
            if self.consistency is not None and answer.get("consistency_proof") is not None:
                # The proof travels with the listing (consistency_from): rewritten like a proof answer.
                rewritten = self.consistency({"first": int(params["consistency_from"]), "second": answer["size"],
                                              "proof": answer["consistency_proof"]})
                answer = {**answer, "consistency_proof": rewritten["proof"]}
                self.fired.append("consistency")
            if self.events is not None:
                before = copy.deepcopy(answer["events"])
                answer["events"] = self.events(copy.deepcopy(answer["events"]))
                if answer["events"] != before:
                    self.fired.append("events")
        elif kind == "checkpoint":
            if self.forge is not None:
                forged = self.forged_log(target)
                answer = {"size": forged.size, "checkpoint": forged.note}
            elif self.old_checkpoint is not None:
                size = open_checkpoint(self.old_checkpoint, [self.relay.signer.vkey()], None).size
                answer = {"size": size, "checkpoint": self.old_checkpoint}
        elif kind == "consistency":
            if self.forge is not None:
                forged = self.forged_log(target)
                first, second = int(params["first"]), int(params["second"])
                answer = {"first": first, "second": second,
                          "proof": [_b64(p) for p in merkle.consistency_proof(first, second, forged.tree)]}
                self.fired.append("forge")
            if self.consistency is not None:
                answer = self.consistency(answer)
                self.fired.append("consistency")
        elif kind == "ack":
            if self.forge is not None:
                # A consistent liar: acknowledge the event inside the forged log, with a proof that checks.
                negotiation_id = answer["negotiation_id"]
                forged = self.forged_log(negotiation_id)
                seq = forged.index_of(answer["event_id"])
                answer = {**answer, "seq": seq, "size": forged.size, "checkpoint": forged.note,
                          "inclusion_proof": [_b64(p) for p in merkle.inclusion_proof(seq, forged.size, forged.tree)]}
                self.fired.append("forge")
            if self.ack is not None:
                answer = self.ack(answer)
                self.fired.append("ack")
        elif kind == "party" and self.party is not None:
            answer = self.party(answer)
            self.fired.append("party")
        elif kind == "parties" and self.parties is not None:
            answer = self.parties(answer)
            self.fired.append("parties")
        return answer


def use_transport(client: Any, transport: httpx.BaseTransport) -> None:
    """Point a client at another relay transport (same URL, same device key)."""
    from parley.client.transport import RelayConnection

    client.conn.close()
    client.conn = RelayConnection(client.profile.relay_url, client.identity.signing, transport=transport)


# ---- small rewrites tests compose ----------------------------------------------------------------------
def flip(encoded: str) -> str:
    """A base64 value with its first byte changed."""
    raw = bytearray(base64.b64decode(encoded))
    raw[0] ^= 0x01
    return _b64(bytes(raw))


def without(event_id: str) -> Callable[[list[EventItem]], list[EventItem]]:
    return lambda items: [i for i in items if event_id_of(i) != event_id]


def swapped(first_id: str, second_id: str) -> Callable[[list[EventItem]], list[EventItem]]:
    """Exchange the positions of two events (sequence numbers stay in order)."""

    def rewrite(items: list[EventItem]) -> list[EventItem]:
        ids = [event_id_of(i) for i in items]
        a, b = ids.index(first_id), ids.index(second_id)
        out = list(items)
        out[a], out[b] = items[b], items[a]
        out[a]["seq"], out[b]["seq"] = items[a]["seq"], items[b]["seq"]
        return out

    return rewrite


def edit_event(event_id: str, change: Callable[[Json], None]) -> Callable[[list[EventItem]], list[EventItem]]:
    """Apply ``change`` to the wire event (header, signature, ciphertexts) of one event."""

    def rewrite(items: list[EventItem]) -> list[EventItem]:
        for item in items:
            if event_id_of(item) == event_id:
                change(item["event"])
        return items

    return rewrite
