"""Memoranda: key issues, compose per key issue, deliver, versions with a redline, official responses."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from parley.errors import InputError, NotFoundError
from parley.protocol.workflow import STANCES, memo_texts
from parley.tracing import unmark
from parley.ui import format as fmt
from parley.ui.context import form_of, ui_of
from parley.ui.routes import other_parties
from parley.ui.routes.files import discarding_uploads


def memoranda(request: Request) -> Response:
    ui = ui_of(request)
    nid = request.path_params["nid"]
    with ui.lock:
        negotiation = ui.negotiation(nid)
        views = negotiation.views()
        names = negotiation.party_names()
        own = negotiation.own_party
        memos = sorted(views.memoranda.values(), key=lambda m: m.delivered_at, reverse=True)
        drafts = {memo_id: versions[-1] for memo_id, versions in views.drafts.items()}
        return ui.render(request, "memoranda.html", nid=nid, tab="memoranda", memos=memos, names=names, own=own,
                         issues=views.issues, drafts=drafts, recipients=other_parties(ui, nid),
                         delivered_ids=set(views.memoranda))


def deliver_draft(request: Request) -> Response:
    """Deliver a draft of this party as it stands, under the draft's id (its lineage)."""
    ui = ui_of(request)
    nid, memo_id = request.path_params["nid"], request.path_params["memo_id"]
    form = form_of(request)
    return ui.act(request, nid, lambda: ui.negotiation(nid).deliver_draft(memo_id, form.all("to")),
                  "Draft delivered.", f"/n/{nid}/memoranda/{memo_id}")


def add_issue(request: Request) -> Response:
    ui = ui_of(request)
    nid = request.path_params["nid"]
    title = form_of(request).get("title")

    def action() -> str:
        if not title:
            raise InputError("a key issue needs a title")
        return ui.negotiation(nid).add_issue(title)

    return ui.act(request, nid, action, f"Key issue '{title}' added to the agenda.", f"/n/{nid}/memoranda#compose")


def deliver(request: Request) -> Response:
    ui = ui_of(request)
    nid = request.path_params["nid"]
    form = form_of(request)
    positions = {k: v for k, v in form.startswith("pos_").items() if v}
    restricted = {k: v for k, v in form.startswith("restricted_").items() if v}
    memo_id = form.get("memo_id") or None
    draft = form.get("action") == "draft"
    upload_ids = form.all("upload")

    def action() -> str:
        from parley.ui.routes.files import named_uploads

        files = named_uploads(request, upload_ids)
        negotiation = ui.negotiation(nid)
        title = form.get("title")
        if not title:
            raise InputError("a memorandum needs a title")
        if not positions:
            raise InputError("write a position on at least one key issue")
        if draft:
            return negotiation.draft_memorandum(title, positions, memo_id=memo_id, attachments=files)
        respond_by = fmt.parse_local(form.get("respond_by"), "Respond by") if form.get("respond_by") else None
        return negotiation.deliver_memorandum(title, positions, form.all("to"), memo_id=memo_id,
                                              respond_by=respond_by, restricted=restricted or None,
                                              attachments=files)

    done = "Draft saved (readable by your party only)." if draft else "Memorandum delivered."
    back = f"/n/{nid}/memoranda/{memo_id}" if memo_id and not draft else f"/n/{nid}/memoranda"
    return discarding_uploads(request, upload_ids, lambda: ui.act(request, nid, action, done, back))



def memorandum(request: Request) -> Response:
    ui = ui_of(request)
    nid, memo_id = request.path_params["nid"], request.path_params["memo_id"]
    with ui.lock:
        negotiation = ui.negotiation(nid)
        views = negotiation.views()
        memo = views.memoranda.get(memo_id)
        if memo is None:
            raise NotFoundError(f"no memorandum '{memo_id}' that you can read")
        names = negotiation.party_names()
        own = negotiation.own_party
        # Delivered versions ("1", "2"), and for the author's party its drafts under the same id ("d1", "d2"):
        # a redline compares any two, on the canonical text where this party holds it.
        texts = memo_texts(views, memo_id)
        canonical = negotiation.canonical_versions(memo_id)
        versions = list(texts)
        delivered = [label for label in versions if texts[label]["kind"] == "delivered"]
        old = _label(request.query_params.get("from"), versions, delivered[-2] if len(delivered) > 1 else None)
        new = _label(request.query_params.get("to"), versions, delivered[-1])
        redline = None
        if old is not None and old != new:
            def plain(label: str) -> dict[str, str]:
                if texts[label]["kind"] == "delivered" and int(label) in canonical:
                    return canonical[int(label)]
                return {k: unmark(t) for k, t in texts[label]["positions"].items()}

            redline = fmt.word_redline(plain(old), plain(new))
        can_respond = (ui.client.profile.role == "head" and own in memo.delivered_to and own != memo.party)
        return ui.render(request, "memorandum.html", nid=nid, tab="memoranda", memo=memo, names=names, own=own,
                         issues=views.issues, versions=versions, old=old, new=new, redline=redline,
                         can_respond=can_respond, stances=STANCES, recipients=other_parties(ui, nid),
                         is_author=own == memo.party,
                         plain={k: unmark(v) for k, v in memo.positions.items()})


def _label(value: str | None, versions: list[str], default: str | None) -> str | None:
    return value if value in versions else default


def respond(request: Request) -> Response:
    ui = ui_of(request)
    nid, memo_id = request.path_params["nid"], request.path_params["memo_id"]
    form = form_of(request)
    stances = {}
    for issue_id, stance in form.startswith("stance_").items():
        if not stance:
            continue
        entry = {"stance": stance}
        text = form.get(f"text_{issue_id}")
        if text:
            entry["text"] = text
        stances[issue_id] = entry

    def action() -> object:
        if not stances:
            raise InputError("choose a stance on at least one key issue")
        negotiation = ui.negotiation(nid)
        memo = negotiation.fresh_views().memoranda.get(memo_id)
        earlier = None if memo is None else memo.responses.get(negotiation.own_party)
        if earlier is not None and form.get("replace") != "yes":
            raise InputError(f"this replaces your official response {earlier.number}: tick the box to confirm "
                             "(the earlier one stays in the history)")
        from parley.ui.routes.files import named_uploads

        return negotiation.respond(memo_id, stances, form.get("covering_text") or None,
                                   attachments=named_uploads(request, form.all("upload")))

    return discarding_uploads(request, form.all("upload"), lambda: ui.act(
        request, nid, action, "Official response given; earlier responses stay in the history.",
        f"/n/{nid}/memoranda/{memo_id}"))


def routes() -> list[Route]:
    return [
        Route("/n/{nid}/memoranda", memoranda),
        Route("/n/{nid}/issues", add_issue, methods=["POST"]),
        Route("/n/{nid}/memoranda/deliver", deliver, methods=["POST"]),
        Route("/n/{nid}/memoranda/drafts/{memo_id}/deliver", deliver_draft, methods=["POST"]),
        Route("/n/{nid}/memoranda/{memo_id}", memorandum),
        Route("/n/{nid}/memoranda/{memo_id}/respond", respond, methods=["POST"]),
    ]
