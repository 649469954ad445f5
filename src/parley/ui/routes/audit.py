"""Audit (log verification status, checkpoint, access log) and trust (fingerprints, QR codes, verify a party)."""

from __future__ import annotations

import base64

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from parley.errors import ParleyError
from parley.ui.context import form_of, ui_of


def audit(request: Request) -> Response:
    ui = ui_of(request)
    nid = request.path_params["nid"]
    with ui.lock:
        negotiation = ui.negotiation(nid)
        pinned = ui.client.cache.checkpoint(nid)
        checkpoint = None
        if pinned is not None:
            checkpoint = {"size": pinned[0], "root": base64.b64encode(pinned[1]).decode(), "note": pinned[2]}
        access_error = None
        try:
            access = negotiation.access_log()
        except ParleyError as exc:
            access, access_error = [], exc.message
        return ui.render(request, "audit.html", nid=nid, tab="audit", integrity=ui.live.integrity.get(nid),
                         checkpoint=checkpoint, access=list(reversed(access))[:50], access_total=len(access),
                         access_error=access_error, relay_vkey=ui.client.profile.relay_vkey)


def verify(request: Request) -> Response:
    ui = ui_of(request)
    nid = request.path_params["nid"]
    try:
        with ui.lock:
            ui.negotiation(nid)
        result = ui.live.full_verify(nid)
    except ParleyError as exc:
        ui.flash(request, "error", exc.message)
    else:
        ui.flash(request, "ok" if result.ok else "error",
                 f"Log verified: {result.message}." if result.ok else f"The log FAILED verification: {result.message}")
    from starlette.responses import RedirectResponse

    return RedirectResponse(f"/n/{nid}/audit", status_code=303)


def trust(request: Request) -> Response:
    ui = ui_of(request)
    nid = request.path_params["nid"]
    from parley.client.trust import describe, trust_rows

    with ui.lock:
        ui.negotiation(nid)
        shown, violations = trust_rows(ui.client, nid)
        rows = []
        for row in sorted(shown, key=lambda r: r["name"].lower()):
            pin = ui.client.profile.trust.get(row["party_id"])
            rows.append({"id": row["party_id"], "name": row["name"], "status": row["status"], "own": row["own"],
                         "fingerprint": pin.fingerprint if pin else None, "verified": row["verified"],
                         "trust": describe(row), "source": row["source"],
                         "can_distrust": row["verified"] and not row["own"]})
        return ui.render(request, "trust.html", nid=nid, tab="trust", parties=rows, violations=violations)


def verify_party(request: Request) -> Response:
    ui = ui_of(request)
    nid, party_id = request.path_params["nid"], request.path_params["party_id"]
    typed = form_of(request).get("fingerprint")
    return ui.act(request, nid, lambda: ui.client.verify_pinned(party_id, typed),
                  "Fingerprint matches: the party is now verified.", f"/n/{nid}/trust#p-{party_id}")


def distrust_party(request: Request) -> Response:
    ui = ui_of(request)
    nid, party_id = request.path_params["nid"], request.path_params["party_id"]
    return ui.act(request, nid, lambda: ui.client.distrust_party(party_id),
                  "The party is no longer verified.", f"/n/{nid}/trust#p-{party_id}")


def routes() -> list[Route]:
    return [
        Route("/n/{nid}/audit", audit),
        Route("/n/{nid}/audit/verify", verify, methods=["POST"]),
        Route("/n/{nid}/trust", trust),
        Route("/n/{nid}/trust/{party_id}", verify_party, methods=["POST"]),
        Route("/n/{nid}/trust/{party_id}/distrust", distrust_party, methods=["POST"]),
    ]
