"""Search of the negotiation's history on this device (the local encrypted store; no relay involved)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from parley.ui.context import ui_of

#: where a result of each kind opens (its item id appended where the page takes one)
_PAGES = {"memorandum": "memoranda/", "draft": "memoranda", "official response": "memoranda/",
          "channel message": "channels/", "channel": "channels/", "meeting proposal": "meetings#",
          "meeting answer": "meetings#", "agreement text": "agreement/", "objection": "agreement/"}


def link(nid: str, kind: str, item: str) -> str:
    """The UI page of a search result (a message without a page of its own opens the timeline)."""
    page = _PAGES.get(kind)
    if page is None:
        return f"/n/{nid}/audit"
    return f"/n/{nid}/{page}{item}" if page.endswith(("/", "#")) else f"/n/{nid}/{page}"


def search_page(request: Request) -> Response:
    from parley.client.search import search

    ui = ui_of(request)
    nid = request.path_params["nid"]
    query = request.query_params.get("q", "").strip()
    results = []
    if query:
        with ui.lock:
            found = search(ui.client, nid, query)
        for r in found:
            # an attachment's words open the file itself (its page names the act that carried it)
            href = f"/n/{nid}/files/{r['item']}" if r["kind"] == "attachment" else link(nid, r["kind"], r["item"])
            results.append({**r, "href": href})
    return ui.render(request, "search.html", nid=nid, tab="search", query=query, results=results)


def routes() -> list[Route]:
    return [Route("/n/{nid}/search", search_page)]
