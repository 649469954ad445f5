"""The local UI's security: per-launch token, session cookie, CSRF, host check, security headers.

- The server binds 127.0.0.1 only (``parley.ui.server``).
- The URL printed at launch carries a per-launch token (``secrets.token_urlsafe``). ``GET /login?token=``
  exchanges it for a session cookie (HttpOnly, SameSite=Strict, path /) and redirects to a URL without it.
  Every other page needs the cookie.
- Every POST carries a CSRF token tied to its session (hidden form field ``csrf`` or header
  ``X-CSRF-Token``); the middleware checks it before any route runs, and the Origin header when present.
- The Host header must name the loopback address (defence against DNS rebinding).
- Responses forbid framing, caching, referrers and any script or style from elsewhere (CSP).
Keys never reach the browser: the browser only ever sees rendered HTML.
"""

from __future__ import annotations

import hmac
import json
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE = "parley_ui_session"
MAX_FORM_BYTES = 2_000_000
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
PUBLIC_PREFIXES = ("/static/",)
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
}


@dataclass
class Session:
    csrf: str
    flash: list[tuple[str, str]] = field(default_factory=list)


class Guard:
    """The launch token and the sessions it opened (in memory: a restart logs everyone out)."""

    def __init__(self, token: str | None = None) -> None:
        self.token = token or secrets.token_urlsafe(32)
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def token_ok(self, offered: str | None) -> bool:
        return bool(offered) and hmac.compare_digest(offered.encode(), self.token.encode())

    def open_session(self) -> str:
        session_id = secrets.token_urlsafe(32)
        with self._lock:
            self._sessions[session_id] = Session(csrf=secrets.token_urlsafe(32))
        return session_id

    def session(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        with self._lock:
            return self._sessions.get(session_id)


def _page(status: int, title: str, text: str) -> HTMLResponse:
    body = (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
            f"<link rel='stylesheet' href='/static/parley.css'></head><body><main class='narrow'>"
            f"<h1>{title}</h1><p>{text}</p></main></body></html>")
    return HTMLResponse(body, status_code=status)


class SecurityMiddleware:
    """Pure ASGI middleware: host check, login token exchange, session cookie, CSRF, headers."""

    def __init__(self, app: ASGIApp, guard: Guard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.decode().lower() for k, _ in headers}
                for name, value in SECURITY_HEADERS.items():
                    if name not in present:
                        headers.append((name.encode(), value.encode()))
                message = {**message, "headers": headers}
            await send(message)

        response = await self._check(scope, receive)
        if isinstance(response, Response):
            await response(scope, receive, send_with_headers)
            return
        await self.app(scope, response, send_with_headers)

    async def _check(self, scope: Scope, receive: Receive) -> Response | Receive:
        """A refusal, or the ``receive`` callable to run the app with (the body replayed after a CSRF check)."""
        request = Request(scope, receive)
        host = request.headers.get("host", "")
        hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if hostname not in LOOPBACK_HOSTS:
            return PlainTextResponse("this interface only answers on the loopback address", status_code=400)
        path = scope["path"]
        if path.startswith(PUBLIC_PREFIXES):
            return receive
        if path == "/login":
            if not self.guard.token_ok(request.query_params.get("token")):
                return _page(403, "Link expired or wrong",
                             "Open the exact URL that <code>parley ui</code> printed when it started.")
            session_id = self.guard.open_session()
            redirect = RedirectResponse("/", status_code=303)
            redirect.set_cookie(COOKIE, session_id, httponly=True, samesite="strict", path="/", secure=False)
            return redirect
        session = self.guard.session(request.cookies.get(COOKIE))
        if session is None:
            return _page(401, "Not signed in",
                         "Open the URL that <code>parley ui</code> printed when it started: it signs this browser in.")
        scope.setdefault("state", {})["session"] = session
        if scope["method"] in ("GET", "HEAD"):
            return receive
        if scope["method"] != "POST":
            return PlainTextResponse("method not allowed", status_code=405)
        origin = request.headers.get("origin")
        if origin is not None and origin.split("://", 1)[-1] != host:
            return PlainTextResponse("cross-origin request refused", status_code=403)
        body = await _read_body(receive)
        if body is None:
            return PlainTextResponse("form too large", status_code=413)
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=2000)
        offered = request.headers.get("x-csrf-token") or (form.get("csrf") or [""])[0]
        if not hmac.compare_digest(offered.encode(), session.csrf.encode()):
            return _page(403, "Form expired", "This form is no longer valid (CSRF check). Go back, reload the page and "
                                              "submit again.")
        scope["state"]["form"] = Form(form)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay


async def _read_body(receive: Receive) -> bytes | None:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class Form:
    """An urlencoded form, already CSRF-checked."""

    def __init__(self, data: dict[str, list[str]]) -> None:
        self.data = data

    def get(self, name: str, default: str = "") -> str:
        values = self.data.get(name)
        return values[0].strip() if values else default

    def raw(self, name: str) -> str:
        values = self.data.get(name)
        return values[0].replace("\r\n", "\n") if values else ""

    def all(self, name: str) -> list[str]:
        return [v for v in self.data.get(name, []) if v]

    def startswith(self, prefix: str) -> dict[str, str]:
        return {k[len(prefix):]: v[0].replace("\r\n", "\n").strip() for k, v in self.data.items()
                if k.startswith(prefix) and v}

    def __repr__(self) -> str:  # never log form contents
        return f"Form({json.dumps(sorted(self.data))})"


def csrf_of(request: Request) -> str:
    session: Any = request.scope.get("state", {}).get("session")
    return session.csrf if session else ""
