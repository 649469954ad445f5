"""Files in the log: streamed into it as encrypted chunk events, named by the act that carries them.

A file is read from disk one chunk (``ATTACHMENT_CHUNK_BYTES``) at a time and posted as ``attachment.chunk``
events to the act's audience; the act (a memorandum, draft, official response, meeting proposal, channel
message, or an agreement version's annex list) then names it by id, file name, size, SHA-256 and chunk count,
inside what its author signs. A reader writes it back to disk chunk by chunk from its local copy, into a
``.part`` file that becomes the file only when size and SHA-256 match; anything else leaves nothing behind.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from parley.errors import InputError, NotFoundError
from parley.progress import report
from parley.protocol.bodies import decode_content
from parley.protocol.record_bodies import TracingRecord
from parley.protocol.views import plain

if TYPE_CHECKING:
    from parley.client.workflow import Negotiation
    from parley.tracing.secret import TracingSecret
    from parley.tracing.trace import TraceReport

ATTACHMENT_CHUNK = "attachment.chunk"
#: plaintext bytes per chunk event: base64 and age keep each ciphertext well under the 1 MiB limit
ATTACHMENT_CHUNK_BYTES = 512 * 1024


def _new_id() -> str:
    import secrets

    return f"att-{secrets.token_hex(4)}"


def post_stamped_attachment(negotiation: Negotiation, path: Path, parties: Sequence[str],
                            visible: Mapping[str, str], secret: TracingSecret | None = None,
                            ) -> dict[str | None, dict[str, Any]]:
    """Post a PDF as chunk events whose ciphertext for each reader holds its own stamped copy: its copy line
    on every page and, with the document's tracing ``secret``, its image mark (``tracing.image_marks``).

    Every reader gets the same number of chunk events (trailing ones empty for shorter copies).
    Returns device key id -> attachment metadata (None: the unstamped file, for any other reader).

    Raises:
        InputError: the PDF cannot be stamped (encrypted or unreadable).
    """
    import tempfile

    from parley.client.tracing import stamp_copies

    attachment_id = _new_id()
    with tempfile.TemporaryDirectory() as folder:
        files: dict[str | None, Path] = {None: path, **stamp_copies(path, visible, Path(folder), secret)}
        sizes = {device: file.stat().st_size for device, file in files.items()}
        total = max(1, max(-(-size // ATTACHMENT_CHUNK_BYTES) for size in sizes.values()))
        digests = {device: hashlib.sha256() for device in files}
        handles = {device: file.open("rb") for device, file in files.items()}
        try:
            for index in range(total):
                chunks = {device: handle.read(ATTACHMENT_CHUNK_BYTES) for device, handle in handles.items()}
                for device, chunk in chunks.items():
                    digests[device].update(chunk)

                def chunk_for(cert, index=index, chunks=chunks):  # noqa: ANN001, ANN202
                    data = chunks.get(cert.device_key_id, chunks[None])
                    return {"attachment_id": attachment_id, "index": index, "total": total,
                            "data": base64.b64encode(data).decode("ascii")}

                negotiation.client.post(negotiation.id, ATTACHMENT_CHUNK,
                                 {"attachment_id": attachment_id, "index": index, "total": total, "data": ""},
                                 parties=parties, copies=chunk_for)
                report(f"uploading {path.name}", index + 1, total)
        finally:
            for handle in handles.values():
                handle.close()
    return {device: {"attachment_id": attachment_id, "name": path.name, "size": sizes[device],
                     "sha256": digests[device].hexdigest(), "chunks": total, "stamped": device is not None}
            for device in files}


def post_attachment(negotiation: Negotiation, path: Path, parties: Sequence[str]) -> dict[str, Any]:
    """Stream a file into the log as encrypted chunk events; never holds more than one chunk."""
    attachment_id = _new_id()
    size = path.stat().st_size
    total = max(1, -(-size // ATTACHMENT_CHUNK_BYTES))
    digest = hashlib.sha256()
    read = 0
    with path.open("rb") as handle:
        for index in range(total):
            chunk = handle.read(ATTACHMENT_CHUNK_BYTES)
            if not chunk and size:
                break  # the file shrank while it was being sent
            digest.update(chunk)
            read += len(chunk)
            negotiation.client.post(negotiation.id, ATTACHMENT_CHUNK, {
                "attachment_id": attachment_id, "index": index, "total": total,
                "data": base64.b64encode(chunk).decode("ascii")}, parties=parties)
            report(f"uploading {path.name}", min(size, (index + 1) * ATTACHMENT_CHUNK_BYTES), size)
        grown = handle.read(1)
    if read != size or grown:
        # The chunks sent stay in the log (it is append-only) but no act names them: no reader sees a file.
        raise InputError(f"{path.name} changed while it was being sent ({size} bytes when it was opened, "
                         f"{read}{' and more' if grown else ''} read): nothing refers to what was sent",
                         hint="send it again once nothing writes to it")
    return {"attachment_id": attachment_id, "name": path.name, "size": size, "sha256": digest.hexdigest(),
            "chunks": total}


def readable_attachments(negotiation: Negotiation) -> list[dict[str, Any]]:
    """Every file this member can read, as its signed event declares it (``attachment_id``, ``name``,
    ``size``, ``sha256``, ``chunks``): the attachments of memoranda, drafts, official responses, meeting
    proposals and channel messages, and the agreement versions' annexes."""
    views = negotiation.views()
    found = [a for m in views.memoranda.values() for a in m.attachments]
    found += [a for m in views.memoranda.values() for history in m.response_history.values()
              for r in history for a in r.attachments]
    found += [a for drafts in views.drafts.values() for d in drafts for a in d.attachments]
    found += [a for m in views.meetings.values() for a in m.attachments]
    found += [a for c in views.channels.values() for m in c.messages for a in m.attachments]
    found = plain(found)
    for view in negotiation.agreements().values():
        for version in view.versions:
            # a draft's stamped PDF annex: this reader's own copy (the version names the canonical bytes)
            own = version.annex_copies or {}
            found += [{**plain(a), **(plain(own[a.attachment_id]) if a.attachment_id in own else {})}
                      for a in version.annexes if a.attachment_id]
    return found


def save_attachment(negotiation: Negotiation, attachment_id: str, out: Path) -> Path:
    """Write a received attachment to ``out``, chunk by chunk (one in memory at a time), into ``out.part``,
    renamed to ``out`` only once its size and SHA-256 match what the signed act declares.

    Raises:
        NotFoundError: unknown attachment.  VerificationError: missing, malformed or extra chunks, or a size or
            digest mismatch (``out.part`` is removed; ``out`` is not touched).
    """
    from parley.errors import VerificationError

    meta = next((a for a in readable_attachments(negotiation) if a.get("attachment_id") == attachment_id), None)
    if meta is None:
        raise NotFoundError(f"no attachment '{attachment_id}' that you can read")
    digest, written, expected = hashlib.sha256(), 0, 0
    tmp = out.with_name(out.name + ".part")
    try:
        with tmp.open("wb") as handle:
            for _, body in negotiation.client.cache.iter_bodies(negotiation.id):
                if body["type"] != ATTACHMENT_CHUNK:
                    continue
                content = body["content"]
                if not isinstance(content, dict) or content.get("attachment_id") != attachment_id:
                    continue
                try:
                    chunk = decode_content(ATTACHMENT_CHUNK, content)
                except InputError as exc:
                    raise VerificationError(f"attachment chunk {expected} is malformed: {exc.message}") from None
                if chunk.index != expected:
                    raise VerificationError(f"attachment chunk {expected} is missing or out of order")
                try:
                    data = base64.b64decode(chunk.data, validate=True)
                except (ValueError, TypeError):  # binascii.Error is a ValueError
                    raise VerificationError(f"attachment chunk {expected} is not base64 data") from None
                digest.update(data)
                if written + len(data) > meta["size"]:
                    raise VerificationError("the attachment is longer than the size its sender declared")
                handle.write(data)
                written += len(data)
                expected += 1
                report(f"writing {out.name}", written, meta["size"])
        if expected != meta["chunks"] or written != meta["size"] or digest.hexdigest() != meta["sha256"]:
            raise VerificationError("the attachment does not match the size and SHA-256 its sender declared")
    except BaseException:
        tmp.unlink(missing_ok=True)  # nothing half-written stays behind
        raise
    tmp.replace(out)
    return out


def trace_annex_leak(path: Path, secrets: Sequence[TracingRecord], document_id: str | None = None,
                     ) -> tuple[TracingRecord, TraceReport] | None:
    """Trace a leaked image or PDF by the image marks of the PDF annexes this party sent with tracing: those of
    memoranda, and those of agreement drafts (one key per agreement, every version at once).

    ``secrets`` are the tracing records this device holds (``Negotiation.tracing_secrets``). Returns the
    record of the document whose annex mark the pages show and the report, or None when no mark is found
    (a text file, an image of something else, or a mark removed). An agreement's record names the agreement
    and all its traced versions (``versions``): one reader's mark is the same on every version's annexes.

    Raises:
        InputError: the file cannot be read, or is an image or PDF that cannot be opened.
    """
    from parley.client.tracing import AGREEMENT_DRAFT
    from parley.tracing.extract import leaked_images
    from parley.tracing.image_marks import PageImage, trace_pages
    from parley.tracing.secret import TracingSecret

    records = [s for s in secrets if s.kind != AGREEMENT_DRAFT and document_id in (None, s.document_id)]
    agreements: dict[tuple[str, str], list[TracingRecord]] = {}
    for s in secrets:
        if s.kind == AGREEMENT_DRAFT and document_id in (None, s.agreement_id, s.document_id):
            agreements.setdefault((s.agreement_id or s.document_id, s.secret), []).append(s)
    for (agreement_id, secret), versions in agreements.items():
        recipients: dict[str, Any] = {}
        for record in sorted(versions, key=lambda r: r.version or 0):
            recipients.update(record.recipients)
        numbers = sorted(r.version or 0 for r in versions)
        records.append(TracingRecord(kind=AGREEMENT_DRAFT, document_id=agreement_id, agreement_id=agreement_id,
                                     version=numbers[-1], versions=numbers, secret=secret, recipients=recipients))
    images = leaked_images(path) if records else []
    if not images:
        return None
    pages = [PageImage(image) for image in images]
    candidates = [(TracingSecret.from_json(r.secret), list(r.recipients)) for r in records]
    result = trace_pages(pages, candidates)
    if result is None:
        return None
    index, report = result
    return records[index], report
