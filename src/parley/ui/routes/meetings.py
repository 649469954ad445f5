"""Meetings: propose, answer (accept, decline, counter-proposal), calendar, ``.ics`` download."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from parley.protocol.workflow import MEETING_ANSWERS, MEETING_LEVELS, calendar, meeting_terms
from parley.ui import format as fmt
from parley.ui.context import form_of, ui_of
from parley.ui.routes import other_parties


def meetings(request: Request) -> Response:
    ui = ui_of(request)
    nid = request.path_params["nid"]
    with ui.lock:
        negotiation = ui.negotiation(nid)
        views = negotiation.views()
        names = negotiation.party_names()
        own = negotiation.own_party
        others = other_parties(ui, nid)
        items = []
        for meeting in calendar(views):
            answerable = own in meeting["invited"]
            items.append({**meeting, "answerable": answerable, "own_answer": meeting["answers"].get(own)})
        return ui.render(request, "meetings.html", nid=nid, tab="meetings", meetings=items, names=names, own=own,
                         others=others, issues=views.issues, levels=MEETING_LEVELS, answers=MEETING_ANSWERS)


def propose(request: Request) -> Response:
    ui = ui_of(request)
    nid = request.path_params["nid"]
    form = form_of(request)
    upload_ids = form.all("upload")

    def action() -> str:
        from parley.ui.routes.files import named_uploads

        return ui.negotiation(nid).propose_meeting(
            venue=form.get("venue") or "", start=fmt.parse_local(form.get("start"), "Start"), end=fmt.parse_local(form.get("end"), "End"),
            timezone=form.get("timezone") or "UTC", level=form.get("level"), parties=form.all("parties"),
            agenda=form.all("agenda"),
            answer_by=fmt.parse_local(form.get("answer_by"), "Answers due by") if form.get("answer_by") else None,
            attachments=named_uploads(request, upload_ids))

    from parley.ui.routes.files import discarding_uploads

    return discarding_uploads(request, upload_ids, lambda: ui.act(request, nid, action, "Meeting proposed.",
                                                           f"/n/{nid}/meetings"))


def answer(request: Request) -> Response:
    ui = ui_of(request)
    nid, meeting_id = request.path_params["nid"], request.path_params["meeting_id"]
    form = form_of(request)

    def action() -> object:
        choice = form.get("answer")
        counter = None
        if choice == "counter":
            counter = meeting_terms(venue=form.get("counter_venue") or "",
                                    start=fmt.parse_local(form.get("counter_start"), "Counter-proposal start"),
                                    end=fmt.parse_local(form.get("counter_end"), "Counter-proposal end"),
                                    timezone=form.get("counter_timezone") or "UTC", what="counter-proposal")
        return ui.negotiation(nid).answer_meeting(meeting_id, choice, note=form.get("note") or None, counter=counter)

    return ui.act(request, nid, action, "Answer sent.", f"/n/{nid}/meetings#{meeting_id}")


def ics(request: Request) -> Response:
    ui = ui_of(request)
    nid, meeting_id = request.path_params["nid"], request.path_params["meeting_id"]
    with ui.lock:
        data = ui.negotiation(nid).ics(meeting_id)
    return Response(data, media_type="text/calendar",
                    headers={"Content-Disposition": f'attachment; filename="{meeting_id}.ics"'})


def routes() -> list[Route]:
    return [
        Route("/n/{nid}/meetings", meetings),
        Route("/n/{nid}/meetings/propose", propose, methods=["POST"]),
        Route("/n/{nid}/meetings/{meeting_id}/answer", answer, methods=["POST"]),
        Route("/n/{nid}/meetings/{meeting_id}.ics", ics),
    ]
