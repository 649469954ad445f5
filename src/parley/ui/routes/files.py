"""Files in the local UI: uploading before an act names them, and viewing received ones in the page.

Upload: the page's script sends each chosen or dropped file as the raw body of ``POST /n/{nid}/uploads``
(CSRF token in a header, progress shown), streamed to a private folder (0700, outside the profile) and
capped at the attachment limit; the act's form then names the uploads it carries, and they are deleted once
the act is posted (or refused). An upload nobody names is deleted when the UI stops.

View: ``/n/{nid}/files/{attachment_id}`` shows an image as is and a PDF as its pages rendered to PNG by this
server (pypdfium2; nothing from the relay or any other site), under the reader's visible copy line; other
types download. Every byte comes from the member's verified, encrypted local copy, checked against its size
and SHA-256 on the way out.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
import threading
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from parley.errors import InputError, NotFoundError
from parley.ui.context import ui_of

_IMAGES = {b"\x89PNG": "image/png", b"\xff\xd8\xff": "image/jpeg", b"GIF8": "image/gif"}
_UPLOAD_ID = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")


class Uploads:
    """Files uploaded by the browser and not yet named by an act, in one private folder."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="parley-uploads-"))
        os.chmod(self.folder, 0o700)
        self._names: dict[str, str] = {}
        self._lock = threading.Lock()

    def path(self, upload_id: str) -> Path:
        """The uploaded file under its original name (a folder per upload keeps names apart).

        Raises:
            NotFoundError: no such upload (already used, or never finished).
        """
        with self._lock:
            name = self._names.get(upload_id) if set(upload_id) <= _UPLOAD_ID else None
        if name is None:
            raise NotFoundError("an uploaded file is gone (already sent, or the upload did not finish): attach it "
                                "again")
        return self.folder / upload_id / name

    def discard(self, upload_ids: list[str]) -> None:
        for upload_id in upload_ids:
            with self._lock:
                self._names.pop(upload_id, None)
            if set(upload_id) <= _UPLOAD_ID:
                shutil.rmtree(self.folder / upload_id, ignore_errors=True)

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def uploads_of(request: Request) -> Uploads:
    ui = ui_of(request)
    with ui.lock:
        if getattr(ui, "uploads", None) is None:
            ui.uploads = Uploads()
        return ui.uploads


async def upload(request: Request) -> Response:
    """Stream one file (the raw request body) into the upload folder; answer its id, name and size."""
    uploads = uploads_of(request)
    limit = ui_of(request).client.limits.max_attachment_bytes
    name = Path(request.query_params.get("name", "")).name.strip()
    if not name or name.startswith(".") or any(ord(c) < 32 for c in name) or len(name) > 200:
        return JSONResponse({"error": "a file needs a plain name"}, status_code=400)
    upload_id = secrets.token_hex(8)
    target = uploads.folder / upload_id / name
    target.parent.mkdir(mode=0o700)
    size = 0
    try:
        with target.open("wb") as handle:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise InputError(f"{name} is over the limit of {limit // (1024 * 1024)} MB")
                handle.write(chunk)
        declared = request.headers.get("x-file-size")
        if declared is not None and declared.isdigit() and int(declared) != size:
            raise InputError(f"{name} arrived incomplete ({size} of {declared} bytes): attach it again")
    except Exception as exc:  # a refused or broken upload leaves nothing behind
        shutil.rmtree(target.parent, ignore_errors=True)
        message = exc.message if isinstance(exc, InputError) else "the upload broke off: attach the file again"
        return JSONResponse({"error": message}, status_code=413 if "limit" in message else 400)
    with uploads._lock:
        uploads._names[upload_id] = name
    return JSONResponse({"upload": upload_id, "name": name, "size": size})


def named_uploads(request: Request, ids: list[str]) -> list[Path]:
    """The files of the uploads a form names.

    Raises:
        NotFoundError: an upload that is gone.
    """
    uploads = uploads_of(request)
    return [uploads.path(upload_id) for upload_id in ids]


def discarding_uploads(request: Request, upload_ids: list[str], respond) -> Response:  # noqa: ANN001
    """Run an act's ``respond()``; the uploads it named are deleted whatever happened (sent, or refused: the person
    attaches them again)."""
    try:
        return respond()
    finally:
        uploads_of(request).discard(upload_ids)


def _saved(request: Request, nid: str, attachment_id: str) -> tuple[dict, bytes]:
    """An attachment's declared metadata and its bytes (checked), from the local copy."""
    ui = ui_of(request)
    with ui.lock, tempfile.TemporaryDirectory(prefix="parley-view-") as folder:
        negotiation = ui.negotiation(nid)
        meta = next((a for a in negotiation.attachments() if a.get("attachment_id") == attachment_id), None)
        if meta is None:
            raise NotFoundError(f"no attachment '{attachment_id}' that you can read")
        path = negotiation.save_attachment(attachment_id, Path(folder) / "file")
        return meta, path.read_bytes()


def kind_of(data: bytes) -> str:
    if data.startswith(b"%PDF"):
        return "pdf"
    return "image" if any(data.startswith(magic) for magic in _IMAGES) else "other"


def view(request: Request) -> Response:
    ui = ui_of(request)
    nid, attachment_id = request.path_params["nid"], request.path_params["attachment_id"]
    meta, data = _saved(request, nid, attachment_id)
    pages = 0
    kind = kind_of(data)
    if kind == "pdf":
        import pypdfium2

        document = pypdfium2.PdfDocument(data)
        pages = len(document)
        document.close()
    return ui.render(request, "file.html", nid=nid, tab=None, meta=meta, kind=kind, pages=pages,
                     base=f"/n/{nid}/files/{attachment_id}")


def raw(request: Request) -> Response:
    nid, attachment_id = request.path_params["nid"], request.path_params["attachment_id"]
    meta, data = _saved(request, nid, attachment_id)
    kind = kind_of(data)
    if kind == "image":
        media = next(m for magic, m in _IMAGES.items() if data.startswith(magic))
        return Response(data, media_type=media)
    filename = json.dumps(meta["name"], ensure_ascii=True)
    return Response(data, media_type="application/octet-stream",
                    headers={"Content-Disposition": f"attachment; filename={filename}"})


def page(request: Request) -> Response:
    """One page of a PDF attachment as PNG, rendered here."""
    import io

    import pypdfium2

    nid, attachment_id = request.path_params["nid"], request.path_params["attachment_id"]
    number = request.path_params["number"]
    _, data = _saved(request, nid, attachment_id)
    if kind_of(data) != "pdf":
        raise NotFoundError("not a PDF")
    document = pypdfium2.PdfDocument(data)
    try:
        if not 1 <= number <= len(document):
            raise NotFoundError(f"the PDF has no page {number}")
        image = document[number - 1].render(scale=1.5).to_pil()
    finally:
        document.close()
    out = io.BytesIO()
    image.save(out, format="PNG")
    return Response(out.getvalue(), media_type="image/png")


def routes() -> list[Route]:
    return [
        Route("/n/{nid}/uploads", upload, methods=["POST"]),
        Route("/n/{nid}/files/{attachment_id}", view),
        Route("/n/{nid}/files/{attachment_id}/raw", raw),
        Route("/n/{nid}/files/{attachment_id}/page/{number:int}.png", page),
    ]
