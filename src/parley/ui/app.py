"""The local web UI: a Starlette app around one unlocked ``Client``.

Server-rendered (Jinja2), enhanced with htmx; live updates over Server-Sent Events.
Every client call runs under one lock (the SDK is synchronous and not re-entrant
across threads); the live thread (``parley.ui.live``) shares it.
"""

from __future__ import annotations

import asyncio
import io
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import segno
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from parley.client.sdk import Client
from parley.client.workflow import Negotiation
from parley.errors import NotFoundError, ParleyError, VerificationError
from parley.protocol.languages import language_name
from parley.ui import format as fmt
from parley.ui.context import form_of, ui_of  # noqa: F401 - the routes' helpers, re-exported
from parley.ui.live import Live
from parley.ui.security import Guard, SecurityMiddleware, csrf_of

HERE = Path(__file__).parent
TABS = (("overview", "Overview"), ("rounds", "Rounds"), ("memoranda", "Memoranda"), ("meetings", "Meetings"),
        ("channels", "Channels"),
        ("agreement", "Agreement"), ("zopa", "Deal zone"), ("audit", "Audit"), ("trust", "Trust"),
        ("search", "Search"))


class UI:
    """Everything a request handler needs: the client, its lock, the live loop, templates."""

    def __init__(self, client: Client, guard: Guard, live: Live) -> None:
        self.client = client
        self.guard = guard
        self.live = live
        self.lock = live.lock
        #: files uploaded by the browser, not yet named by an act (``parley.ui.routes.files``)
        self.uploads = None
        self.env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                               trim_blocks=True, lstrip_blocks=True)
        self.env.filters.update(when=fmt.when, age=fmt.age, label=fmt.event_label, short=fmt.short,
                                issue_title=fmt.issue_title,
                                stance=lambda s: fmt.STANCE_LABELS.get(s, s or ""), language=language_name)

    # ---- rendering ------------------------------------------------------------------------------
    def render(self, request: Request, template: str, *, http_status: int = 200, nid: str | None = None,
               tab: str | None = None, **context: Any) -> HTMLResponse:
        profile = self.client.profile
        session = request.scope.get("state", {}).get("session")
        flash = []
        if session is not None and "hx-request" not in request.headers:  # live refreshes leave the flash alone
            flash, session.flash[:] = list(session.flash), []
        parties = []
        if nid is not None:
            state = self.client.state(nid)
            parties = [(pid, p.record.name) for pid, p in state.parties.items()]
        unverified = [pin for pid, pin in profile.trust.items()
                      if not pin.verified and (nid is None or pid in dict(parties))]
        html = self.env.get_template(template).render(
            request=request, live_version=self.live.version, csrf=csrf_of(request), me=profile, nid=nid, tab=tab, tabs=TABS, flash=flash,
            unverified=unverified, failed=self.live.failed(nid), relay_error=self.live.relay_error,
            copy_for=f"{profile.member}, {profile.party.name}", **context)
        return HTMLResponse(html, status_code=http_status)

    def flash(self, request: Request, kind: str, text: str) -> None:
        session = request.scope.get("state", {}).get("session")
        if session is not None:
            session.flash.append((kind, text))

    def negotiation(self, nid: str) -> Negotiation:
        """A negotiation this profile has synced.

        Raises:
            NotFoundError: unknown to this profile.
        """
        if nid not in self.client.cache.negotiations():
            known = {n["negotiation_id"] for n in self.client.negotiations()}
            if nid not in known:
                raise NotFoundError(f"no negotiation '{nid}' for this party")
            self.client.sync(nid)
        self.live.watch(nid)
        return Negotiation(self.client, nid)

    def act(self, request: Request, nid: str | None, action: Callable[[], Any], done: str, back: str) -> Response:
        """Run a posting action under the lock; flash its outcome; redirect (POST/redirect/GET)."""
        with self.lock:
            try:
                result = action()
            except VerificationError as exc:
                if nid is not None:
                    self.live.record_failure(nid, exc)
                self.flash(request, "error", exc.message)
            except ParleyError as exc:
                self.flash(request, "error", exc.message + (f" ({exc.hint})" if exc.hint else ""))
            else:
                self.flash(request, "ok", done.format(result=result) if "{result" in done else done)
        if nid is not None:
            self.live.sync_once(nid)
        return RedirectResponse(back, status_code=303)


@contextmanager
def reading(ui: UI) -> Iterator[None]:
    with ui.lock:
        yield


# ---- base routes ----------------------------------------------------------------------------------------
def home(request: Request) -> Response:
    ui = ui_of(request)
    with ui.lock:
        try:
            listed = ui.client.negotiations()
        except ParleyError as exc:
            ui.flash(request, "error", f"The relay did not answer: {exc.message}")
            listed = [{"negotiation_id": nid, "size": None} for nid in ui.client.cache.negotiations()]
        rows = []
        cached = set(ui.client.cache.negotiations())
        for item in listed:
            nid = item["negotiation_id"]
            row = {"id": nid, "size": item.get("size"), "parties": [], "awaiting": None, "status": "not synced yet"}
            if nid in cached:
                state = ui.client.state(nid)
                row["parties"] = [(p.record.name, p.status) for p in state.parties.values()]
                own = state.parties.get(ui.client.profile.party.party_id)
                row["status"] = own.status if own else "not a party"
                status = Negotiation(ui.client, nid).status()
                row["awaiting"] = len(status["awaiting_official_response"])
            rows.append(row)
        return ui.render(request, "home.html", negotiations=rows)


async def events(request: Request) -> Response:
    """Server-Sent Events: ``update`` whenever a watched negotiation changed or failed verification."""
    ui = ui_of(request)
    nid = request.query_params.get("n")
    if nid:
        try:
            await asyncio.to_thread(_watch, ui, nid)
        except ParleyError:
            return Response(status_code=404)

    async def stream():  # noqa: ANN202
        # Start from the version the page was rendered at: a change between render and connect is not lost.
        given = request.query_params.get("v", "")
        seen = int(given) if given.isdigit() else ui.live.version
        yield "retry: 2000\n\n"
        # The relay's state as of now, so the indicator never says "Live" while the relay does not answer.
        yield f"event: state\ndata: {json.dumps(ui.live.snapshot())}\n\n"
        idle = 0.0
        while not await request.is_disconnected():
            if ui.live.version != seen:
                seen = ui.live.version
                yield f"event: update\ndata: {json.dumps(ui.live.snapshot())}\n\n"
                idle = 0.0
            elif idle > 15:
                yield ": keep-alive\n\n"
                idle = 0.0
            await asyncio.sleep(0.25)
            idle += 0.25

    return StreamingResponse(stream(), media_type="text/event-stream", headers={"X-Accel-Buffering": "no"})


#: where each kind of awaited act is given in the UI, and what a notification says of it
_ACT_PAGES = {"official response": "memoranda/{ref}", "meeting answer": "meetings", "signature": "agreement"}
_ASKS = {"official response": "An official response is awaited from your party",
         "meeting answer": "A meeting proposal awaits your party's answer",
         "signature": "A finalized text awaits your party's signature"}


def awaiting(request: Request) -> Response:
    """What awaits this member's party in every negotiation of the local copy, for the page's notifications:
    the kind of act and its deadline only, never a title or a text (notification centres may keep them)."""
    from parley.client.notify import awaiting_me
    from parley.protocol.deadlines import deadline_state

    ui = ui_of(request)
    rows = []
    with ui.lock:
        now = ui.client.clock()
        for nid in ui.client.cache.negotiations():
            for item in awaiting_me(Negotiation(ui.client, nid)):
                due = "" if not item["due"] else " ({state}, {hours_left} h left)".format(
                    **deadline_state(item["due"], now))
                rows.append({"key": item["key"], "text": _ASKS[item["kind"]] + due,
                             "href": f"/n/{nid}/" + _ACT_PAGES[item["kind"]].format(ref=item["ref"])})
    return JSONResponse(rows)


def _watch(ui: UI, nid: str) -> None:
    with ui.lock:
        ui.negotiation(nid)


def qr_code(request: Request) -> Response:
    """A party's root-key fingerprint as a QR code (SVG), for comparison out of band."""
    ui = ui_of(request)
    pinned = ui.client.profile.trust.get(request.path_params["party_id"])
    if pinned is None:
        return Response("unknown party", status_code=404, media_type="text/plain")
    buffer = io.BytesIO()
    segno.make(pinned.fingerprint, error="m").save(buffer, kind="svg", scale=5, border=4, dark="#111", light="#fff",
                                                   xmldecl=False, svgclass=None, lineclass=None,
                                                   title=f"Fingerprint of {pinned.name}")
    return Response(buffer.getvalue(), media_type="image/svg+xml")


def favicon(request: Request) -> Response:
    return RedirectResponse("/static/favicon.svg", status_code=301)


async def error_page(request: Request, exc: Exception) -> Response:
    ui = ui_of(request)
    if isinstance(exc, ParleyError):
        status = exc.http_status if 400 <= exc.http_status < 600 else 500
        message = exc.message
    else:
        status, message = 500, "An unexpected error occurred; see the terminal running 'parley ui'."
    return await asyncio.to_thread(lambda: ui.render(request, "error.html", http_status=status, message=message))


def create_ui_app(client: Client, token: str | None = None, *, interval: float = 1.0, stream: bool = False,
                  full_verify_every: float = 60.0, start_live: bool = True) -> Starlette:
    """The UI of one unlocked member ``client``; ``token`` is the per-launch login token (made when None).

    ``app.state.ui.guard.token`` holds the token; ``app.state.ui.live`` the live loop (stopped on shutdown).
    """
    from parley.ui.routes import agreement, audit, channels, meetings, memoranda, negotiations, rounds, zopa
    from parley.ui.routes.files import routes as file_routes
    from parley.ui.routes.search import routes as search_routes

    lock = threading.RLock()
    live = Live(client, lock, interval=interval, stream=stream, full_verify_every=full_verify_every)
    guard = Guard(token)
    routes = [
        Route("/", home),
        Route("/events", events),
        Route("/awaiting.json", awaiting),
        Route("/qr/{party_id}.svg", qr_code),
        Route("/favicon.ico", favicon),
        *negotiations.routes(), *memoranda.routes(), *meetings.routes(), *channels.routes(),
        *agreement.routes(), *audit.routes(), *rounds.routes(), *zopa.routes(), *search_routes(),
        *file_routes(),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette):  # noqa: ANN202
        if start_live:
            live.start()
        yield
        live.stop()
        uploads = getattr(app.state.ui, "uploads", None)
        if uploads is not None:
            uploads.close()  # uploads no act named

    app = Starlette(routes=routes, exception_handlers={Exception: error_page, ParleyError: error_page},
                    lifespan=lifespan)
    app.state.ui = UI(client, guard, live)
    app.add_middleware(SecurityMiddleware, guard=guard)
    return app
