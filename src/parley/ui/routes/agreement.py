"""The agreement: single negotiating text, objections per article, finalize, sign, release, publish, bundle."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from parley.client.agreement import AgreementDesk
from parley.errors import InputError, NotFoundError
from parley.protocol.public_bodies import decode_logged_publication
from parley.protocol.state import PUBLICATION
from parley.protocol.views import plain as plain_view
from parley.ui import format as fmt
from parley.ui.context import form_of, ui_of

AGREEMENT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,62}$")


def _desk(ui, nid: str) -> AgreementDesk:  # noqa: ANN001
    return AgreementDesk(ui.negotiation(nid))


def _published(ui, nid: str) -> set[str]:  # noqa: ANN001
    published = set()
    for _, _, body, _ in ui.client.cache.events_of_types(nid, {PUBLICATION}):
        try:
            published.add(decode_logged_publication(body["content"]).agreement_id)
        except InputError:  # not a publication the relay accepted: nothing is published by it
            continue
    return published


def _summary(ui, desk: AgreementDesk, view: Any, published: set[str]) -> dict[str, Any]:  # noqa: ANN001
    names = desk.negotiation.party_names()
    parties = desk.parties()
    own = desk.negotiation.own_party
    state = view.seal_state(parties)
    head = ui.client.profile.role == "head"
    latest = view.latest
    return {
        "id": view.agreement_id, "title": latest.title, "version": latest.version,
        "state": state, "mediator": names.get(view.mediator, view.mediator), "sha256": latest.sha256,
        "finalized": plain_view(view.finalized), "articles": plain_view(latest.articles),
        "status": {a["number"]: {**a, "objected_by": [names.get(p, p) for p in a["objected_by"]]}
                   for a in view.article_status()},
        "objections": [{**plain_view(o), "party": names.get(o.party, o.party)} for o in view.objections],
        "signed_by": sorted(names.get(p, p) for p in view.signatures),
        "awaiting_signature": sorted(names.get(p, p) for p in parties if p not in view.signatures),
        "consented": sorted(names.get(p, p) for p in view.consents),
        "awaiting_consent": sorted(names.get(p, p) for p in parties if p not in view.consents),
        "copy": latest.copy, "published": view.agreement_id in published,
        "annexes": plain_view(latest.annexes),
        "is_mediator": view.mediator == own,
        "can_post": view.mediator == own and view.finalized is None,
        "can_finalize": head and view.mediator == own and view.finalized is None,
        "can_sign": head and view.finalized is not None and own not in view.signatures,
        "can_consent": head and state.startswith("signed") and own not in view.consents,
        "can_publish": head and state == "released" and view.agreement_id not in published,
        "can_bundle": state == "released" and view.agreement_id in published,
        "text_for_edit": fmt.articles_text([{**plain_view(a), "text": _plain(a.text)} for a in latest.articles]),
        "versions": [v.version for v in view.versions],
        "languages": latest.languages, "authenticity": latest.authenticity,
        "prevailing": latest.prevailing,
        "texts": {code: {"title": t.title, "articles": [{**plain_view(art), "text": _plain(art.text)}
                                                        if code != latest.languages[0] else plain_view(art)
                                                        for art in t.articles]}
                  for code, t in latest.texts.items()},
        "status_by_language": {code: {a["number"]: {**a, "objected_by": [names.get(p, p) for p in a["objected_by"]]}
                                      for a in view.article_status(code)} for code in latest.languages},
        "violations": list(view.violations),
    }


def _plain(text: str) -> str:
    from parley.tracing import unmark

    return unmark(text)


def agreement_page(request: Request) -> Response:
    ui = ui_of(request)
    nid = request.path_params["nid"]
    agreement_id = request.path_params.get("agreement_id")
    with ui.lock:
        desk = _desk(ui, nid)
        views, _ = desk.views()
        published = _published(ui, nid)
        items = [_summary(ui, desk, v, published) for v in views.values() if v.latest is not None]
        current = None
        if agreement_id is not None:
            current = next((a for a in items if a["id"] == agreement_id), None)
            if current is None:
                raise NotFoundError(f"no agreement '{agreement_id}' that you can read")
        elif len(items) == 1:
            current = items[0]
        return ui.render(request, "agreement.html", nid=nid, tab="agreement", agreements=items, current=current)


def _back(nid: str, agreement_id: str) -> str:
    return f"/n/{nid}/agreement/{agreement_id}"


def post_text(request: Request) -> Response:
    ui = ui_of(request)
    nid = request.path_params["nid"]
    form = form_of(request)
    agreement_id = form.get("agreement_id")

    def action() -> int:
        if not AGREEMENT_ID.match(agreement_id):
            raise InputError("the agreement id is 3 to 63 characters of a-z, 0-9 and '-'")
        return _desk(ui, nid).post_text(agreement_id, form.get("title"), fmt.parse_articles(form.raw("articles")))

    return ui.act(request, nid, action, "Version {result} of the text posted.", _back(nid, agreement_id)
                  if AGREEMENT_ID.match(agreement_id) else f"/n/{nid}/agreement")


def _simple(verb: str, done: str):  # noqa: ANN202
    def handler(request: Request) -> Response:
        ui = ui_of(request)
        nid, agreement_id = request.path_params["nid"], request.path_params["agreement_id"]
        form = form_of(request)

        def action() -> object:
            desk = _desk(ui, nid)
            if verb == "object":
                try:
                    article = int(form.get("article"))
                except ValueError:
                    raise InputError("choose an article") from None
                if not form.get("text") and form.get("kind") != "withdraw":
                    raise InputError("say what the objection or comment is")
                return desk.object(agreement_id, article, form.get("text"), form.get("kind") or "objection",
                                   language=form.get("language") or None)
            if verb == "finalize":
                override = form.get("override") == "yes"
                sign_by = fmt.parse_local(form.get("sign_by"), "Signatures due by") if form.get("sign_by") else None
                return desk.finalize(agreement_id, override=override, reason=form.get("reason") or None,
                                     sign_by=sign_by)
            if verb == "sign":
                return desk.sign(agreement_id)
            if verb == "release":
                return desk.consent_to_release(agreement_id)
            return desk.publish(agreement_id)

        return ui.act(request, nid, action, done, _back(nid, agreement_id))

    return handler


def bundle(request: Request) -> Response:
    ui = ui_of(request)
    nid, agreement_id = request.path_params["nid"], request.path_params["agreement_id"]
    with ui.lock, tempfile.TemporaryDirectory(prefix="parley-ui-bundle-") as tmp:
        archive = _desk(ui, nid).bundle(agreement_id, Path(tmp) / "publication")
        data = Path(archive).read_bytes()
    return Response(data, media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{agreement_id}-publication.zip"'})


def routes() -> list[Route]:
    base = "/n/{nid}/agreement/{agreement_id}"
    return [
        Route("/n/{nid}/agreement", agreement_page),
        Route("/n/{nid}/agreement-text", post_text, methods=["POST"]),
        Route(base, agreement_page),
        Route(base + "/object", _simple("object", "Your objection or comment is recorded."), methods=["POST"]),
        Route(base + "/finalize", _simple("finalize", "The text is finalized."), methods=["POST"]),
        Route(base + "/sign", _simple("sign", "Signed for your party."), methods=["POST"]),
        Route(base + "/release", _simple("release", "Your party consents to release."), methods=["POST"]),
        Route(base + "/publish", _simple("publish", "The agreement is published."), methods=["POST"]),
        Route(base + "/bundle.zip", bundle),
    ]
