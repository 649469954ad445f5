"""The relay's HTTP API (FastAPI): the app, its error answers and the event-post shortcut.

Routes live in ``parley.relay.routes`` (one router per area) and stay thin: rules live in
``parley.protocol``. What every route shares (the caller's signature, the body, admission) is in
``parley.relay.caller``; the per-process state in ``parley.relay.state``.

Errors: every ``ParleyError`` becomes ``{"error": code, "message": text}`` with the status its class
names, in one handler below.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from parley import __version__
from parley.errors import ConfigError, ParleyError, RateLimitError
from parley.relay.openapi_bodies import ENCRYPTED_BODY, add_body_components
from parley.relay.routes import ROUTERS
from parley.relay.routes.negotiations import post_event
from parley.relay.schemas import ERROR_RESPONSES, REQUEST_COMPONENTS
from parley.relay.state import Relay

__all__ = ["Relay", "RelayApp", "create_app"]


async def parley_error_answer(request: Request, exc: ParleyError) -> JSONResponse:
    """The answer to a refusal: its code and message, with the status its class names."""
    request.app.state.relay.metrics.error(exc.code)
    request.scope["parley.error"] = exc.code  # for the request log
    headers = {"Retry-After": str(max(1, round(exc.retry_after)))} if isinstance(exc, RateLimitError) else None
    return JSONResponse({"error": exc.code, "message": exc.message}, status_code=exc.http_status, headers=headers)


async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "error")
    return JSONResponse({"error": code, "message": str(exc.detail)}, status_code=exc.status_code)


async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(p) for p in first.get("loc", ()))
    return JSONResponse({"error": "bad_input", "message": f"invalid request: {where}: {first.get('msg', '')}"},
                        status_code=400)


def create_app(relay: Relay) -> RelayApp:
    # Newer FastAPI versions look for an OpenTelemetry provider on every request (about 3 % of an event post);
    # the relay reports through its own /metrics, so that is switched off where the option exists.
    quiet = ({"telemetry": {"tracing": False, "metrics": False, "logs": False}}
             if "telemetry" in inspect.signature(FastAPI.__init__).parameters else {})
    app = RelayApp(title="parley relay", version=__version__,
                   description="Stores ciphertext and signed headers; orders them in per-negotiation Merkle logs.",
                   responses=ERROR_RESPONSES, **quiet)
    app.state.relay = relay
    app.add_exception_handler(ParleyError, parley_error_answer)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    for router in ROUTERS:
        # The routes become the app's own: include_router would nest each router behind one entry of
        # app.routes, and the authorization matrix (tests/security) walks app.routes for every endpoint.
        app.router.routes.extend(router.routes)
    _name_operations(app)
    # The route stays declared (for the OpenAPI description, and for event_post = None); posts reach it
    # through the shortcut below.
    app.event_post = EventPostShortcut(post_event, parley_error_answer)
    return app


#: what FastAPI writes next to a declared answer's ``$ref`` from a handler's ``-> dict[str, ...]`` annotation
_FROM_ANNOTATION = {"type", "additionalProperties", "title"}


def _answers_by_reference(document: dict[str, Any]) -> None:
    """Each declared answer's schema as its bare reference (``{"$ref": ".../RelayIdentity"}``), without what
    FastAPI adds beside it from a handler's ``dict`` return annotation: with those siblings a generated client
    makes a new model per route (``V1RelayGetResponse``) instead of using the declared one."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            for answer in operation.get("responses", {}).values():
                for media in answer.get("content", {}).values():
                    schema = media.get("schema", {})
                    if "$ref" in schema and set(schema) - {"$ref"} <= _FROM_ANNOTATION:
                        media["schema"] = {"$ref": schema["$ref"]}


def _name_operations(app: FastAPI) -> None:
    """Each operation's id in the OpenAPI description is its handler's name (``list_events``), the method name of
    a client generated from it, instead of FastAPI's name, path and method (``list_events_v1_negotiations_...``).

    Raises:
        ConfigError: two operations have one name.
    """
    named: dict[str, str] = {}
    for route in app.routes:
        if isinstance(route, APIRoute) and route.operation_id is None and route.include_in_schema:
            if route.name in named:
                raise ConfigError(f"two routes are named {route.name}: {named[route.name]} and {route.path}")
            named[route.name] = route.path
            route.operation_id = route.name


_EVENT_POST_PATH = re.compile(r"/v1/negotiations/([^/]+)/events")


class RelayApp(FastAPI):
    """The relay's FastAPI app, with one shortcut: ``POST /v1/negotiations/{id}/events``, nearly every request
    under load, goes to its handler (``event_post``) without Starlette's error middleware, FastAPI's
    body-limit and telemetry layers and the router, which cost about a tenth of a post's time on the event
    loop; every other request takes the usual way.

    Middleware added with ``add_middleware`` wraps both ways: the stack is built as
    ``user middleware -> (event-post shortcut | Starlette's stack -> router)``, so the busiest route
    cannot miss a middleware (request logs, request ids) that every other route gets.
    """

    #: the shortcut for event posts; None sends them through the router like any other request
    event_post: EventPostShortcut | None = None

    def openapi(self) -> dict[str, Any]:
        """FastAPI's description (built on first use, as FastAPI does) with the schemas the request bodies read
        by hand refer to (``parley.relay.schemas.REQUEST_COMPONENTS``) and those of the bodies, cleartext and
        encrypted (``parley.relay.openapi_bodies``).

        Raises:
            ConfigError: a schema's name clashes with a different component of the description.
        """
        document = super().openapi()
        components = document.setdefault("components", {}).setdefault("schemas", {})
        if ENCRYPTED_BODY not in components:
            _answers_by_reference(document)
            for name, schema in REQUEST_COMPONENTS.items():
                if components.setdefault(name, schema) != schema:
                    raise ConfigError(f"the OpenAPI description has two schemas named {name}")
            add_body_components(document)
        return document

    def build_middleware_stack(self) -> ASGIApp:
        user_middleware, self.user_middleware = self.user_middleware, []
        try:
            app: ASGIApp = super().build_middleware_stack()
        finally:
            self.user_middleware = user_middleware
        if self.event_post is not None:
            app = _EventPostDispatch(app, self.event_post)
        for cls, args, kwargs in reversed(user_middleware):
            app = cls(app, *args, **kwargs)
        return app


class _EventPostDispatch:
    """Event posts to the shortcut, everything else to Starlette's stack."""

    def __init__(self, app: ASGIApp, shortcut: EventPostShortcut) -> None:
        self.app = app
        self.shortcut = shortcut

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            match = _EVENT_POST_PATH.fullmatch(scope["path"])
            if match is not None:
                scope["path_params"] = {"negotiation_id": match.group(1)}
                scope["route_template"] = "/v1/negotiations/{negotiation_id}/events"
                await self.shortcut(scope, receive, send)
                return
        await self.app(scope, receive, send)


class EventPostShortcut:
    """The event post's handler as a bare ASGI call: the same handler and the same error answers
    (``on_error``) as through the router, and for anything unexpected the plain 500 that Starlette's
    outermost middleware gives, the error then going on to the middleware around it and the server's log."""

    def __init__(self, endpoint: Callable[[Request], Any], on_error: Callable[..., Any]) -> None:
        self.endpoint = endpoint
        self.on_error = on_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            response = await self.endpoint(request)
        except ParleyError as exc:
            response = await self.on_error(request, exc)
        except Exception:
            await PlainTextResponse("Internal Server Error", status_code=500)(scope, receive, send)
            raise
        await response(scope, receive, send)
