"""Full-text search of a negotiation's history on this device, offline, from the local store.

The index is an SQLite FTS5 table inside the client's cache database, so SQLCipher encrypts it with the
rest (``parley.crypto.local_store``): nothing searchable is ever written in clear, and no temporary file
holds a document's text (an attachment is put back together in memory to read its text layer).

Events are indexed as the verified batch that carries them is stored (``ClientCache.store_sync``, in
the same transaction); a cache written before the index existed is indexed on its first search. What
is indexed: memoranda and their drafts, official responses, comments, messages, channel messages,
meeting proposals and answers, agreement texts and objections, and the text of attachments and annexes
(a PDF's text layer through pypdf, or a file that is UTF-8 text). Invisible tracing marks are removed
first, so a marked copy is found by the words of the original.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping
from typing import Any

from parley.errors import InputError

SCHEMA = """
CREATE VIRTUAL TABLE IF NOT EXISTS search_index USING fts5(
    text, negotiation_id UNINDEXED, seq UNINDEXED, kind UNINDEXED, item UNINDEXED, device UNINDEXED,
    created UNINDEXED, tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3');
CREATE TABLE IF NOT EXISTS search_progress (negotiation_id TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS search_chunks (
    negotiation_id TEXT NOT NULL, attachment_id TEXT NOT NULL, idx INTEGER NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (negotiation_id, attachment_id, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS search_files (
    negotiation_id TEXT NOT NULL, attachment_id TEXT NOT NULL, name TEXT NOT NULL, kind TEXT NOT NULL,
    item TEXT NOT NULL, PRIMARY KEY (negotiation_id, attachment_id)) WITHOUT ROWID;
"""

#: event type -> the kind a result shows
KINDS = {
    "memorandum.deliver": "memorandum", "memorandum.draft": "draft", "memorandum.restricted": "memorandum",
    "response.official": "official response", "comment": "comment", "message": "message",
    "channel.message": "channel message", "channel.open": "channel", "meeting.propose": "meeting proposal",
    "meeting.respond": "meeting answer", "agreement.text": "agreement text", "agreement.objection": "objection",
    "statement.public": "public statement", "agreement.publication": "agreement text",
}
ATTACHMENT_KIND = "attachment"
_ITEM_KEYS = ("memo_id", "meeting_id", "channel_id", "agreement_id", "issue_id")
#: content fields that are not words anybody wrote (ids, digests, key material, chunks, copy lines)
_SKIP = frozenset({"memo_id", "meeting_id", "channel_id", "agreement_id", "issue_id", "event_id", "attachment_id",
                   "sha256", "text_sha256", "signature", "signatures", "consent", "consents", "tracing", "copy",
                   "data", "document", "public_key", "device", "start", "end", "timezone", "respond_by",
                   "answer_by", "sign_by", "languages", "prevailing", "level", "kind", "stance", "answer",
                   "version", "number", "article", "chunks", "size", "stamped", "signers_devices", "texts_sha256"})
#: the largest attachment whose text is extracted (it is put back together in memory, never on disk)
MAX_EXTRACT_BYTES = 64 * 1024 * 1024


def ensure_schema(db: Any) -> None:
    db.executescript(SCHEMA)


def index_batch(db: Any, negotiation_id: str, events: Iterable[tuple[int, str, Mapping, Mapping | None, str]]) -> int:
    """Index the decrypted events of a stored batch not indexed yet; run inside the storing transaction.

    ``events``: ``(seq, event_id, envelope, body, received_at)`` as ``ClientCache.store_sync`` takes them.
    Returns how many entries were added.
    """
    row = db.execute("SELECT seq FROM search_progress WHERE negotiation_id=?", (negotiation_id,)).fetchone()
    done = -1 if row is None else row[0]
    added, last = 0, done
    for seq, _, envelope, body, _ in events:
        if seq <= done:
            continue
        last = max(last, seq)
        if body is None:
            continue
        header = envelope.get("header", {})
        try:
            added += _index_event(db, negotiation_id, seq, header.get("author", ""), header.get("created", ""),
                                  body)
        except Exception:  # noqa: BLE001, S112 - an event the index cannot read must never stop a verified sync
            continue
    if last > done:
        db.execute("INSERT INTO search_progress VALUES (?, ?) ON CONFLICT(negotiation_id) DO UPDATE SET "
                   "seq=excluded.seq WHERE excluded.seq > search_progress.seq", (negotiation_id, last))
    return added


def catch_up(db: Any, negotiation_id: str) -> int:
    """Index what a cache stored before it had the index (or before this version of parley). Returns entries added."""
    row = db.execute("SELECT seq FROM search_progress WHERE negotiation_id=?", (negotiation_id,)).fetchone()
    done = -1 if row is None else row[0]
    rows = db.execute("SELECT seq, envelope, body FROM events WHERE negotiation_id=? AND seq>? ORDER BY seq",
                      (negotiation_id, done))
    with db:
        return index_batch(db, negotiation_id, ((seq, "", json.loads(env), None if body is None else json.loads(body),
                                                 "") for seq, env, body in rows))


def _index_event(db: Any, negotiation_id: str, seq: int, device: str, created: str, body: Mapping) -> int:
    event_type, content = body.get("type"), body.get("content")
    if not isinstance(content, Mapping):
        return 0
    if event_type == "attachment.chunk":
        return _index_chunk(db, negotiation_id, seq, device, created, content)
    kind = KINDS.get(event_type)
    if kind is None:
        return 0
    item = next((str(content[k]) for k in _ITEM_KEYS if isinstance(content.get(k), str)), f"event-{seq}")
    for listed in [*(content.get("attachments") or []), *(content.get("annexes") or [])]:
        if isinstance(listed, Mapping) and isinstance(listed.get("attachment_id"), str):
            db.execute("INSERT OR REPLACE INTO search_files VALUES (?,?,?,?,?)",
                       (negotiation_id, listed["attachment_id"], str(listed.get("name", "")), kind, item))
    text = "\n".join(_words(content))
    if not text.strip():
        return 0
    db.execute("INSERT INTO search_index VALUES (?,?,?,?,?,?,?)",
               (text, negotiation_id, seq, kind, item, device, created))
    return 1


def _words(value: Any, key: str | None = None) -> list[str]:
    """Every string a person wrote in a content, tracing marks removed, keys like ids and digests left out."""
    from parley.tracing import unmark

    if key in _SKIP:
        return []
    if isinstance(value, str):
        return [unmark(value)]
    if isinstance(value, Mapping):
        return [w for k, v in value.items() for w in _words(v, str(k))]
    if isinstance(value, list):
        return [w for v in value for w in _words(v, key)]
    return []


def _index_chunk(db: Any, negotiation_id: str, seq: int, device: str, created: str, chunk: Mapping) -> int:
    attachment_id, index, total = chunk.get("attachment_id"), chunk.get("index"), chunk.get("total")
    if not isinstance(attachment_id, str) or not isinstance(index, int) or not isinstance(total, int):
        return 0
    db.execute("INSERT OR IGNORE INTO search_chunks VALUES (?,?,?,?)", (negotiation_id, attachment_id, index, seq))
    if index != total - 1:
        return 0
    seqs = [s for (s,) in db.execute("SELECT seq FROM search_chunks WHERE negotiation_id=? AND attachment_id=? "
                                     "ORDER BY idx", (negotiation_id, attachment_id))]
    if len(seqs) != total or total * 512 * 1024 > MAX_EXTRACT_BYTES * 2:
        return 0
    data = io.BytesIO()
    import base64

    for chunk_seq in seqs:
        row = db.execute("SELECT body FROM events WHERE negotiation_id=? AND seq=?", (negotiation_id, chunk_seq))
        body = row.fetchone()
        if body is None or body[0] is None:
            return 0
        data.write(base64.b64decode(json.loads(body[0])["content"].get("data", "")))
        if data.tell() > MAX_EXTRACT_BYTES:
            return 0
    text = file_text(data.getvalue())
    if not text.strip():
        return 0
    db.execute("INSERT INTO search_index VALUES (?,?,?,?,?,?,?)",
               (text, negotiation_id, seq, ATTACHMENT_KIND, attachment_id, device, created))
    return 1


def file_text(data: bytes) -> str:
    """The words of a file: a PDF's text layer (pypdf), or the file itself when it is UTF-8 text; else ''."""
    if data.startswith(b"%PDF"):
        try:
            from pypdf import PdfReader

            reader = PdfReader(io.BytesIO(data))
            return "\n".join(page.extract_text() or "" for page in reader.pages)
        except Exception:  # a damaged or encrypted PDF is kept, just not searchable
            return ""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return ""
    return text if "\x00" not in text else ""


def fts_query(query: str) -> str:
    """The user's words as an FTS5 query: every word must appear (``word*`` matches a prefix), any FTS5 syntax
    taken literally.

    Raises:
        InputError: no word to search for.
    """
    terms = []
    for word in query.split():
        prefix = word.endswith("*")
        word = word.rstrip("*")
        if word:
            terms.append('"' + word.replace('"', '""') + '"' + ("*" if prefix else ""))
    if not terms:
        raise InputError("search for at least one word")
    return " ".join(terms)


def search_index(db: Any, negotiation_id: str, query: str, limit: int = 50) -> list[dict[str, Any]]:
    """Matching entries, newest first: ``{"seq", "kind", "item", "device", "created", "snippet"}``; attachments
    also give ``name`` and the ``kind``/``item`` of what carried them (``in_kind``, ``in_item``).

    Raises:
        InputError: no word to search for.
    """
    match = fts_query(query)
    # Newest first: FTS5 walks its lists from the end and stops at the limit, so a word found in every event
    # costs what a rare one does (ranking all of them by relevance took over 100 ms at 10,000 events).
    # Snippets are built for the rows kept only.
    best = [rowid for (rowid,) in db.execute(
        "SELECT rowid FROM search_index WHERE search_index MATCH ? AND negotiation_id=? ORDER BY rowid DESC "
        "LIMIT ?",
        (match, negotiation_id, limit))]
    if not best:
        return []
    marks = ",".join("?" * len(best))
    by_rowid = {row[0]: row[1:] for row in db.execute(
        "SELECT rowid, seq, kind, item, device, created, snippet(search_index, 0, '[', ']', '…', 12) "  # noqa: S608
        f"FROM search_index WHERE search_index MATCH ? AND rowid IN ({marks})", (match, *best))}
    rows = [by_rowid[rowid] for rowid in best if rowid in by_rowid]
    out = []
    for seq, kind, item, device, created, snippet in rows:
        found = {"seq": seq, "kind": kind, "item": item, "device": device, "created": created,
                 "snippet": " ".join(snippet.split())}
        if kind == ATTACHMENT_KIND:
            row = db.execute("SELECT name, kind, item FROM search_files WHERE negotiation_id=? AND attachment_id=?",
                             (negotiation_id, item)).fetchone()
            if row is not None:
                found.update(name=row[0], in_kind=row[1], in_item=row[2])
        out.append(found)
    return out


def search(client: Any, negotiation_id: str, query: str, limit: int = 50) -> list[dict[str, Any]]:
    """Search one negotiation's history in this device's local store (no network): results newest first, each with
    ``kind``, ``author`` (member), ``party`` (name), ``created``, ``snippet`` (matches in ``[brackets]``),
    ``item`` (the id to open: a memorandum, meeting, channel, agreement or attachment id) and ``seq``.

    Raises:
        InputError: no word to search for.  NotFoundError: no such negotiation on this device.
    """
    from parley.errors import NotFoundError

    if client.cache.checkpoint(negotiation_id) is None:
        raise NotFoundError(f"no negotiation '{negotiation_id}' on this device",
                            hint="sync it first ('parley status NEGOTIATION'); search reads the local copy only")
    catch_up(client.cache.db, negotiation_id)
    state = client.state(negotiation_id)
    out = []
    for found in search_index(client.cache.db, negotiation_id, query, limit):
        cert = state.members.get(found["device"])
        party = state.parties.get(cert.party_id) if cert else None
        out.append({**{k: v for k, v in found.items() if k != "device"},
                    "author": cert.member if cert else found["device"],
                    "party": party.record.name if party else None})
    return out

