"""The relay's request logs: one JSON line per request (id, method, route template, status, duration), the
shortcut's posts included; in privacy mode no negotiation, party or device id, and never content."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import httpx
import pytest
import structlog

from parley.client.sdk import Client
from parley.client.transport import InProcessTransport
from parley.crypto.httpsig import sign_request
from parley.relay.app import create_app
from parley.relay.logs import RequestLog, configure_logging


@pytest.fixture
def log_stream():
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    configure_logging(json_lines=True, level="info", stream=stream)
    yield stream
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    structlog.reset_defaults()


def _lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def _requests(stream: io.StringIO) -> list[dict]:
    return [line for line in _lines(stream) if line.get("logger") == "parley.relay.requests"]


def _logged_app(world, *, log_ids: bool):  # noqa: ANN001, ANN202
    app = create_app(world.relay)
    app.add_middleware(RequestLog, log_ids=log_ids)
    return app


def test_request_logs_in_privacy_mode_name_no_negotiation_party_or_content(world, log_stream) -> None:  # noqa: ANN001
    """A reader of the logs (a log shipper, a hosting provider) must not learn who negotiates with whom, in
    which negotiation, or what was said."""
    ua, ru = world.party("Ukraine"), world.party("Russia")
    nid = world.negotiation(ua, ru)
    transport = InProcessTransport(_logged_app(world, log_ids=False))
    author = Client(ua.profile, transport=transport, clock=world.clock)
    reader = Client(ru.profile, transport=transport, clock=world.clock)
    secret = "the corridor opens at dawn on Tuesday"
    try:
        author.send_message(nid, secret)
        reader.sync(nid)
        with httpx.Client(transport=transport, base_url="http://relay") as http:
            unsigned = http.get(f"/v1/negotiations/{nid}/events")
            unknown = http.get(f"/no/such/{nid}")
    finally:
        author.close()
        reader.close()
        transport.shutdown()
    # the relay's own lines (this process also holds the clients, whose httpx logs name URLs)
    text = "\n".join(json.dumps(line) for line in _lines(log_stream) if line.get("logger", "").startswith(
        ("parley.relay", "uvicorn")))
    lines = _requests(log_stream)
    assert lines, text
    ids = {nid, ua.profile.party.party_id, ru.profile.party.party_id, ua.identity.device_key_id,
           ru.identity.device_key_id}
    for forbidden in (*ids, secret, "corridor"):
        assert forbidden not in text, forbidden
    for line in lines:
        assert set(line) >= {"request_id", "method", "route", "status", "duration_ms", "time", "level"}
        assert len(line["request_id"]) == 16
    # (an act's post also carries its author's cosignature of the log it verified: docs/tlog.md)
    posts = [line for line in lines if line["method"] == "POST" and line["route"].endswith("/events")]
    assert {"route": "/v1/negotiations/{negotiation_id}/events", "status": 201}.items() <= posts[-1].items()
    assert any(line["route"] == "/v1/negotiations/{negotiation_id}/events" and line["method"] == "GET"
               and line["status"] == 200 for line in lines)
    refused = next(line for line in lines if line["request_id"] == unsigned.headers["x-request-id"])
    assert refused["status"] == 401 and refused["error"] == "unauthenticated"
    missing = next(line for line in lines if line["request_id"] == unknown.headers["x-request-id"])
    assert missing["route"] == "(no route)" and missing["status"] == 404
    assert len({line["request_id"] for line in lines}) == len(lines)


def test_request_logs_with_log_ids_name_the_negotiation_and_device(world, log_stream) -> None:  # noqa: ANN001
    ua, ru = world.party("Ukraine"), world.party("Russia")
    nid = world.negotiation(ua, ru)
    transport = InProcessTransport(_logged_app(world, log_ids=True))
    author = Client(ua.profile, transport=transport, clock=world.clock)
    try:
        author.send_message(nid, "named")
    finally:
        author.close()
        transport.shutdown()
    post = [line for line in _requests(log_stream) if line["method"] == "POST"][-1]
    assert post["negotiation_id"] == nid and post["device"] == ua.identity.device_key_id
    assert "named" not in json.dumps(_requests(log_stream))


def test_unexpected_failure_is_logged_with_its_cause(world, log_stream, monkeypatch) -> None:  # noqa: ANN001
    ua, ru = world.party("Ukraine"), world.party("Russia")
    nid = world.negotiation(ua, ru)
    captured: dict[str, bytes] = {}

    class Recording(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            if request.method == "POST" and request.url.path.endswith("/events"):
                captured["body"] = request.read()
            return world.transport.handle_request(request)

    author = Client(ua.profile, transport=Recording(), clock=world.clock)
    try:
        author.send_message(nid, "kept for a second try")
    finally:
        author.close()

    def broken(*_args, **_kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("the writer broke in an unforeseen way")

    monkeypatch.setattr(world.relay.ingestor, "submit", broken)
    app = _logged_app(world, log_ids=False)

    async def post() -> httpx.Response:
        request = httpx.Request("POST", f"http://relay/v1/negotiations/{nid}/events", content=captured["body"],
                                headers={"content-type": "application/json"})
        sign_request(request, key_id=ua.identity.device_key_id, private_key=ua.identity.signing.private)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport) as http:
            return await http.send(request)

    response = asyncio.run(post())
    assert response.status_code == 500
    failed = next(line for line in _requests(log_stream) if line["request_id"] == response.headers["x-request-id"])
    assert failed["level"] == "error" and failed["status"] == 500
    assert failed["route"] == "/v1/negotiations/{negotiation_id}/events"
    exception = failed["exception"][0]
    assert exception["exc_type"] == "RuntimeError" and "unforeseen" in exception["exc_value"]
    assert all("locals" not in frame or not frame["locals"] for frame in exception["frames"])
    assert nid not in json.dumps(_requests(log_stream))


def test_console_lines_on_a_terminal_json_otherwise() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    root = logging.getLogger()
    saved = list(root.handlers)
    try:
        for stream, is_json in ((Terminal(), False), (io.StringIO(), True)):
            configure_logging(stream=stream)
            structlog.get_logger("parley.test").info("hello", status=200)
            line = stream.getvalue().strip()
            assert line.startswith("{") is is_json, line
            assert "hello" in line and "200" in line
    finally:
        root.handlers[:] = saved
        structlog.reset_defaults()
