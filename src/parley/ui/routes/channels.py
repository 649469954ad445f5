"""Standing channels between any subset of parties: open one, chat with live updates."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from parley.errors import InputError, NotFoundError
from parley.ui.context import form_of, ui_of
from parley.ui.routes import other_parties


def channels(request: Request) -> Response:
    ui = ui_of(request)
    nid = request.path_params["nid"]
    channel_id = request.path_params.get("channel_id")
    with ui.lock:
        negotiation = ui.negotiation(nid)
        views = negotiation.views()
        names = negotiation.party_names()
        own = negotiation.own_party
        others = other_parties(ui, nid)
        items = sorted(views.channels.values(), key=lambda c: c.name.lower())
        current = None
        if channel_id is not None:
            current = views.channels.get(channel_id)
            if current is None:
                raise NotFoundError(f"no channel '{channel_id}' that you can read")
        return ui.render(request, "channels.html", nid=nid, tab="channels", channels=items, current=current,
                         names=names, own=own, others=others, me_name=ui.client.profile.member)


def open_channel(request: Request) -> Response:
    ui = ui_of(request)
    nid = request.path_params["nid"]
    form = form_of(request)

    def action() -> str:
        if not form.get("name"):
            raise InputError("a channel needs a name")
        if not form.all("parties"):
            raise InputError("choose at least one other party for the channel")
        return ui.negotiation(nid).open_channel(form.get("name"), form.all("parties"))

    return ui.act(request, nid, action, "Channel opened.", f"/n/{nid}/channels")


def post_message(request: Request) -> Response:
    ui = ui_of(request)
    nid, channel_id = request.path_params["nid"], request.path_params["channel_id"]
    form = form_of(request)
    text = form.raw("text").strip()
    upload_ids = form.all("upload")

    def action() -> object:
        from parley.ui.routes.files import named_uploads

        if not text:
            raise InputError("type a message first")
        return ui.negotiation(nid).channel_message(channel_id, text, attachments=named_uploads(request, upload_ids))

    from parley.ui.routes.files import discarding_uploads

    return discarding_uploads(request, upload_ids, lambda: ui.act(request, nid, action, "Message sent.",
                                                                  f"/n/{nid}/channels/{channel_id}#compose"))


def routes() -> list[Route]:
    return [
        Route("/n/{nid}/channels", channels),
        Route("/n/{nid}/channels/open", open_channel, methods=["POST"]),
        Route("/n/{nid}/channels/{channel_id}", channels),
        Route("/n/{nid}/channels/{channel_id}/messages", post_message, methods=["POST"]),
    ]
