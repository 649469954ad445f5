"""The negotiation overview: awaiting official responses, positions matrix, timeline; joining."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from parley.ui.context import ui_of


def overview(request: Request) -> Response:
    ui = ui_of(request)
    nid = request.path_params["nid"]
    with ui.lock:
        negotiation = ui.negotiation(nid)
        language = request.query_params.get("lang") or None
        status = negotiation.status(language=language)
        own = ui.client.state(nid).parties.get(ui.client.profile.party.party_id)
        timeline = list(reversed(ui.client.timeline(nid)))
        return ui.render(request, "overview.html", nid=nid, tab="overview", status=status, timeline=timeline,
                         own_status=own.status if own else None)


def join(request: Request) -> Response:
    ui = ui_of(request)
    nid = request.path_params["nid"]
    return ui.act(request, nid, lambda: ui.client.join(nid), "Your party joined the negotiation.", f"/n/{nid}")


def routes() -> list[Route]:
    return [Route("/n/{nid}", overview), Route("/n/{nid}/join", join, methods=["POST"])]
