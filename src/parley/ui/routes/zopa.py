"""The deal-zone page: blind checks that the parties' reservation values leave a zone of agreement."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from parley.client.zopa import ZopaDesk
from parley.crypto.comparison import DIRECTIONS
from parley.errors import InputError
from parley.ui.context import form_of, ui_of
from parley.ui.routes import other_parties


def page(request: Request) -> Response:
    ui = ui_of(request)
    nid = request.path_params["nid"]
    with ui.lock:
        negotiation = ui.negotiation(nid)
        desk = ZopaDesk(negotiation)
        ledger = desk.ledger(sync=False)
        views = negotiation.views()
        names = negotiation.party_names()
        own = negotiation.own_party
        checks = []
        for check in ledger.checks.values():
            summary = check.summary()
            issue = views.issues.get(check.issue_id)
            summary["issue"] = check.issue_id if issue is None else issue.title
            summary["spent"] = ledger.try_used(check.issue_id, check.round_id, own)
            summary["may_commit"] = (check.next_committer() == own and own in check.parties
                                     and summary["spent"] is None and check.aborted_by is None)
            summary["may_step"] = own in check.waiting_for() and own in check.commits
            checks.append(summary)
        issues = [(iid, i.title) for iid, i in views.issues.items() if i.status == "open"]
        return ui.render(request, "zopa.html", nid=nid, tab="zopa", checks=checks, names=names, own=own,
                         issues=issues, others=other_parties(ui, nid), directions=DIRECTIONS,
                         is_head=ui.client.identity.certificate.role == "head", violations=ledger.violations)


def open_check(request: Request) -> Response:
    ui, nid, form = ui_of(request), request.path_params["nid"], form_of(request)

    def action() -> str:
        if not form.all("parties"):
            raise InputError("choose at least one other party")
        return ZopaDesk(ui.negotiation(nid)).open(form.get("issue"), form.all("parties"), split=bool(form.get("split")))

    return ui.act(request, nid, action, "Check {result} opened.", f"/n/{nid}/zopa")


def commit(request: Request) -> Response:
    ui, nid, form = ui_of(request), request.path_params["nid"], form_of(request)
    check_id = request.path_params["check_id"]

    def action() -> str:
        try:
            value = int(form.raw("value").strip())
        except ValueError:
            raise InputError("a reservation value is a whole number from 0 to 4294967295") from None
        return ZopaDesk(ui.negotiation(nid)).commit(check_id, value, form.get("direction"),
                                                    allow_split=bool(form.get("allow_split")))["status"]

    return ui.act(request, nid, action, "Committed. The check is now: {result}.", f"/n/{nid}/zopa")


def step(request: Request) -> Response:
    ui, nid = ui_of(request), request.path_params["nid"]
    check_id = request.path_params["check_id"]
    return ui.act(request, nid, lambda: ZopaDesk(ui.negotiation(nid)).advance(check_id)["status"],
                  "The check is now: {result}.", f"/n/{nid}/zopa")


def abort(request: Request) -> Response:
    ui, nid, form = ui_of(request), request.path_params["nid"], form_of(request)
    check_id = request.path_params["check_id"]
    return ui.act(request, nid, lambda: ZopaDesk(ui.negotiation(nid)).abort(check_id, form.get("reason")),
                  "Check aborted.", f"/n/{nid}/zopa")


def routes() -> list[Route]:
    return [
        Route("/n/{nid}/zopa", page),
        Route("/n/{nid}/zopa/open", open_check, methods=["POST"]),
        Route("/n/{nid}/zopa/{check_id}/commit", commit, methods=["POST"]),
        Route("/n/{nid}/zopa/{check_id}/step", step, methods=["POST"]),
        Route("/n/{nid}/zopa/{check_id}/abort", abort, methods=["POST"]),
    ]
