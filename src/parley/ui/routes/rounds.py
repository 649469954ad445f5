"""Rounds of talks: the list with the current round, a round's page (what it holds), open, close, link."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from parley.errors import InputError
from parley.protocol.workflow import calendar
from parley.ui import format as fmt
from parley.ui.context import form_of, ui_of


def rounds(request: Request) -> Response:
    ui = ui_of(request)
    nid = request.path_params["nid"]
    with ui.lock:
        negotiation = ui.negotiation(nid)
        views = negotiation.views()
        listed = negotiation.rounds(views)
        next_number = max((r["number"] for r in listed), default=0) + 1
        return ui.render(request, "rounds.html", nid=nid, tab="rounds", rounds=listed, issues=views.issues,
                         meetings=calendar(views), next_number=next_number)


def round_page(request: Request) -> Response:
    ui = ui_of(request)
    nid, round_id = request.path_params["nid"], request.path_params["round_id"]
    with ui.lock:
        negotiation = ui.negotiation(nid)
        views = negotiation.views()
        found = negotiation.round(round_id)
        return ui.render(request, "round.html", nid=nid, tab="rounds", round=found, memoranda=views.memoranda,
                         meetings=calendar(views))


def open_round(request: Request) -> Response:
    ui = ui_of(request)
    nid = request.path_params["nid"]
    form = form_of(request)

    def action() -> str:
        try:
            number = int(form.get("number") or "")
        except ValueError:
            raise InputError("a round has a number from 1") from None
        starts = fmt.parse_local(form.get("starts"), "Start") if form.get("starts") else None
        ends = fmt.parse_local(form.get("ends"), "End") if form.get("ends") else None
        return ui.negotiation(nid).open_round(number, form.get("venue") or None, starts, ends,
                                              meeting_id=form.get("meeting_id") or None, agenda=form.all("agenda"))

    return ui.act(request, nid, action, "Round opened.", f"/n/{nid}/rounds")


def close_round(request: Request) -> Response:
    ui = ui_of(request)
    nid, round_id = request.path_params["nid"], request.path_params["round_id"]
    form = form_of(request)
    return ui.act(request, nid, lambda: ui.negotiation(nid).close_round(round_id, form.get("outcome") or ""),
                  "Round closed.", f"/n/{nid}/rounds/{round_id}")


def link(request: Request) -> Response:
    ui = ui_of(request)
    nid, round_id = request.path_params["nid"], request.path_params["round_id"]
    form = form_of(request)

    def action() -> object:
        kind, _, ref = (form.get("item") or "").partition(":")
        if not ref:
            raise InputError("choose what to link to the round")
        return ui.negotiation(nid).link_to_round(round_id, kind, ref)

    return ui.act(request, nid, action, "Linked to the round.", f"/n/{nid}/rounds/{round_id}")


def routes() -> list[Route]:
    return [
        Route("/n/{nid}/rounds", rounds),
        Route("/n/{nid}/rounds/open", open_round, methods=["POST"]),
        Route("/n/{nid}/rounds/{round_id}", round_page),
        Route("/n/{nid}/rounds/{round_id}/close", close_round, methods=["POST"]),
        Route("/n/{nid}/rounds/{round_id}/link", link, methods=["POST"]),
    ]
