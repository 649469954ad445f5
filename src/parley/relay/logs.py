"""The relay's logs (structlog): one line per request, JSON lines when the output is not a terminal.

A request line holds a request id (also sent back as ``X-Request-Id``), the method, the route's template
(``/v1/negotiations/{negotiation_id}/events``, never the path as sent), the status, the duration and, for a
refusal, its error code. With ``log_ids`` it also names the negotiation, party or agreement of the path and
the calling device; without (privacy mode, the default) no id appears. Never logged: bodies, their sizes,
query strings, headers, signatures. An unexpected failure is logged with its exception and traceback
(frames only: no local variables).
"""

from __future__ import annotations

import logging
import secrets
import sys
import time
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson
import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: path parameters that name something; logged only with ``log_ids``
_ID_PARAMETERS = ("negotiation_id", "party_id", "agreement_id")
_REQUEST_ID_HEADER = b"x-request-id"

request_log = structlog.stdlib.get_logger("parley.relay.requests")
_REQUEST_LOGGER = "parley.relay.requests"


class _RequestLineSink:
    """The request lines of a JSON log, written straight to the log handler's stream: the same JSON
    object the structlog chain renders, without its per-record work (a log record, two processor runs),
    which cost more than a whole event post. Other lines (failures included) take the structlog chain."""

    def __init__(self, handler: logging.StreamHandler, level: int) -> None:
        self.handler = handler
        self.level = level
        # standard error is line-buffered: each line reaches the log at once without a flush call
        self.flush = not getattr(handler.stream, "line_buffering", False)

    def write(self, level_name: str, level: int, fields: dict[str, Any]) -> bool:
        if level < self.level:
            return True
        fields["event"] = "request"
        fields["level"] = level_name
        fields["logger"] = _REQUEST_LOGGER
        fields["time"] = datetime.now(UTC)  # orjson writes it as ISO 8601 with Z
        line = orjson.dumps(fields, option=orjson.OPT_UTC_Z | orjson.OPT_APPEND_NEWLINE).decode()
        self.handler.acquire()
        try:
            self.handler.stream.write(line)
            if self.flush:
                self.handler.stream.flush()
        finally:
            self.handler.release()
        return True


#: set by configure_logging for JSON logs; None: request lines take the structlog chain
_sink: _RequestLineSink | None = None


def _orjson_dumps(obj: Any, default: Any = None) -> str:
    return orjson.dumps(obj, default=default or str).decode()


def configure_logging(*, json_lines: bool | None = None, level: str = "info", stream: TextIO | None = None) -> None:
    """Send every log record of the process (parley's, uvicorn's) through structlog to ``stream``
    (standard error by default): JSON lines, or readable lines when ``json_lines`` is False. By default,
    JSON unless the stream is a terminal."""
    stream = stream or sys.stderr
    if json_lines is None:
        json_lines = not (hasattr(stream, "isatty") and stream.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="time"),
    ]
    if json_lines:
        final: list[Any] = [
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)),
            structlog.processors.JSONRenderer(serializer=_orjson_dumps),
        ]
    else:
        final = [structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared, processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final]))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    global _sink
    _sink = _RequestLineSink(handler, root.level) if json_lines else None
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):  # their records reach the root handler
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.getLogger("alembic").setLevel(logging.WARNING)  # schema checks at start say nothing worth a line


def route_template(scope: Scope) -> str:
    """The template of the route that served the request; never the path as sent (it may hold ids)."""
    route = scope.get("route")
    template = getattr(route, "path", None) or scope.get("route_template")
    return template if isinstance(template, str) else "(no route)"


class RequestLog:
    """ASGI middleware: a request id for every HTTP request, and one log line when it ends."""

    def __init__(self, app: ASGIApp, *, log_ids: bool = False) -> None:
        self.app = app
        self.log_ids = log_ids

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = secrets.token_hex(8)
        scope["parley.request_id"] = request_id
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (_REQUEST_ID_HEADER, request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except BaseException as exc:
            self._log(scope, request_id, status or 500, started, exc)
            raise
        self._log(scope, request_id, status, started, None)

    def _log(self, scope: Scope, request_id: str, status: int, started: float,
             exc: BaseException | None) -> None:
        fields: dict[str, Any] = {
            "request_id": request_id, "method": str(scope.get("method", ""))[:16],
            "route": route_template(scope), "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2)}
        error = scope.get("parley.error")
        if error is not None:
            fields["error"] = error
        if self.log_ids:
            params = scope.get("path_params") or {}
            fields.update({name: params[name] for name in _ID_PARAMETERS if name in params})
            if "parley.device" in scope:
                fields["device"] = scope["parley.device"]
        if exc is not None and not isinstance(exc, Exception):
            request_log.warning("request cancelled", **fields)
        elif exc is not None:
            request_log.error("request failed", exc_info=exc, **fields)
        elif _sink is not None and logging.getLogger().handlers and _sink.handler in logging.getLogger().handlers:
            level_name, level = ("error", logging.ERROR) if status >= 500 else ("info", logging.INFO)
            _sink.write(level_name, level, fields)
        elif status >= 500:
            request_log.error("request", **fields)
        else:
            request_log.info("request", **fields)
