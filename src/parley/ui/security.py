"""The local UI's security: per-launch token, session cookie, CSRF, host check, security headers.

- The server binds 127.0.0.1 only (``parley.ui.server``).
- A login token (``secrets.token_urlsafe``) is single-use and short-lived (``LOGIN_TOKEN_SECONDS``):
  ``GET /login?token=`` exchanges it once for a session cookie (HttpOnly, SameSite=Strict, path /) and
  answers a page that moves on to ``/`` from this origin (so the Strict cookie is sent even when the login
  was opened from a ``file://`` page). ``parley ui`` never puts a token on a command line or its output:
  it writes the login link into a 0600 page in the profile folder (``parley.ui.server``) and opens that
  file. Every other page needs the cookie.
- Every POST carries a CSRF token tied to its session (hidden form field ``csrf`` or header
  ``X-CSRF-Token``); the middleware checks it before any route runs, and the Origin header when present.
- The Host header must name the loopback address (defence against DNS rebinding).
- Responses forbid framing, caching, referrers and any script or style from elsewhere (CSP).
Keys never reach the browser: the browser only ever sees rendered HTML.
"""

from __future__ import annotations

import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
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


#: the one POST whose body is not a form: a file streamed to ``parley.ui.routes.files.upload``
UPLOAD_PATH = re.compile(r"^/n/[A-Za-z0-9_.-]+/uploads$")
#: seconds a login token stays valid if nobody uses it
LOGIN_TOKEN_SECONDS = 120.0


class Guard:
    """Login tokens and the sessions they opened (in memory: a restart logs everyone out).

    A token signs in one browser once, within ``LOGIN_TOKEN_SECONDS`` of its issue; ``issue_token`` makes
    the next one (the previous one stops working)."""

    def __init__(self, token: str | None = None, *, lifetime: float = LOGIN_TOKEN_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.lifetime = lifetime
        self.clock = clock
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires = 0.0
        self.issue_token(token)

    def issue_token(self, token: str | None = None) -> str:
        """A fresh login token (``token`` if given), replacing any unused one."""
        with self._lock:
            self._token = token or secrets.token_urlsafe(32)
            self._expires = self.clock() + self.lifetime
            return self._token

    @property
    def token_pending(self) -> bool:
        """True while the current login token can still be used."""
        with self._lock:
            return self._token is not None and self.clock() < self._expires

    def redeem_token(self, offered: str | None) -> bool:
        """Use up the login token: True once for the right token before it expires, False otherwise."""
        with self._lock:
            current, valid = self._token, self._token is not None and self.clock() < self._expires
            if not offered or current is None or not hmac.compare_digest(offered.encode(), current.encode()):
                return False
            self._token = None  # single use, and an expired token is gone too
            return valid

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
            if not self.guard.redeem_token(request.query_params.get("token")):
                return _page(403, "Link used, expired or wrong",
                             "A login link signs in one browser once, for two minutes. Open the login page that "
                             "<code>parley ui</code> named when it started again: it always holds a fresh link.")
            session_id = self.guard.open_session()
            # A page, not a redirect: a redirect would keep the cross-site origin of a file:// login page,
            # and the browser would withhold the Strict cookie from the first page.
            signed_in = HTMLResponse(
                "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Signed in</title>"
                "<meta http-equiv='refresh' content='0;url=/'></head><body><p><a href='/'>Continue</a></p>"
                "</body></html>")
            signed_in.set_cookie(COOKIE, session_id, httponly=True, samesite="strict", path="/", secure=False)
            return signed_in
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
        if UPLOAD_PATH.match(path):
            # A file upload: the body is the file, streamed by its route; the CSRF token comes in a header.
            if not hmac.compare_digest(request.headers.get("x-csrf-token", "").encode(), session.csrf.encode()):
                return PlainTextResponse("upload refused (CSRF check): reload the page", status_code=403)
            return receive
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
