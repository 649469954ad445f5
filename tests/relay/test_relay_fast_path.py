"""The event post skips the middleware stack and the router (``RelayApp.event_post``): it must answer exactly
what the declared route answers, refusals and unexpected failures included."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from parley.client.sdk import Client
from parley.client.transport import InProcessTransport
from parley.crypto.httpsig import sign_request
from parley.relay.app import create_app


def _metrics_auth(relay) -> dict[str, str]:  # noqa: ANN001
    return {"Authorization": f"Bearer {relay.metrics_token}"}


def _router_only(relay):  # noqa: ANN001, ANN202
    app = create_app(relay)
    app.event_post = None  # event posts then take the declared route, like every other request
    return app


def test_fast_path_answers_as_the_router_does(world) -> None:  # noqa: ANN001
    ua, ru = world.party("Ukraine"), world.party("Russia")
    nid = world.negotiation(ua, ru)
    router = InProcessTransport(_router_only(world.relay))
    key_id, private = ua.identity.device_key_id, ua.identity.signing.private
    try:
        def both(path: str, body: bytes, *, sign: bool = True) -> list[tuple[int, dict]]:
            answers = []
            for transport in (world.transport, router):
                request = httpx.Request("POST", f"http://relay{path}", content=body,
                                        headers={"content-type": "application/json"})
                if sign:
                    sign_request(request, key_id=key_id, private_key=private)
                with httpx.Client(transport=transport) as http:
                    response = http.send(request)
                answers.append((response.status_code, response.json()))
            return answers

        path = f"/v1/negotiations/{nid}/events"
        cases = {
            "unsigned": both(path, b"{}", sign=False),
            "not JSON": both(path, b"not json"),
            "not an envelope": both(path, b'{"header": 1}'),
            "unknown negotiation": both("/v1/negotiations/no-such-negotiation/events", b"{}"),
        }
        for name, (fast, routed) in cases.items():
            assert fast == routed, name
            assert fast[0] >= 400, name
        # A real event through each path: both accept (201) with the same answer shape.
        routed = Client(ua.profile, transport=router, clock=world.clock)
        try:
            first, second = ua.send_message(nid, "fast"), routed.send_message(nid, "routed")
        finally:
            routed.close()
        assert second.seq == first.seq + 1
        assert ru.sync(nid).size == world.relay.store.head(nid).size
        metrics = httpx.Client(transport=world.transport).get("http://relay/metrics", headers=_metrics_auth(world.relay)).text
        assert 'parley_errors_total{code="bad_input"}' in metrics  # refusals counted on the fast path too
    finally:
        router.shutdown()



class _Recording(httpx.BaseTransport):
    """Passes requests on, keeping the last body posted to an events route."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.posted = b""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/events"):
            self.posted = request.read()
        return self.inner.handle_request(request)


def test_unexpected_failure_on_the_fast_path_is_the_routers_plain_500(world, monkeypatch) -> None:  # noqa: ANN001
    ua, ru = world.party("Ukraine"), world.party("Russia")
    nid = world.negotiation(ua, ru)
    recording = _Recording(world.transport)
    author = Client(ua.profile, transport=recording, clock=world.clock)
    try:
        author.send_message(nid, "a real event, its body kept")
    finally:
        author.close()
    assert recording.posted

    def broken(*_args, **_kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("the writer broke in an unforeseen way")

    monkeypatch.setattr(world.relay.ingestor, "submit", broken)  # reached only past every check of the post

    async def post(app, *, raise_errors: bool) -> tuple[int, str]:  # noqa: ANN001
        request = httpx.Request("POST", f"http://relay/v1/negotiations/{nid}/events", content=recording.posted,
                                headers={"content-type": "application/json"})
        sign_request(request, key_id=ua.identity.device_key_id, private_key=ua.identity.signing.private)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_errors)
        async with httpx.AsyncClient(transport=transport) as http:
            response = await http.send(request)
        return response.status_code, response.text

    fast, routed = create_app(world.relay), _router_only(world.relay)
    answers = [asyncio.run(post(app, raise_errors=False)) for app in (fast, routed)]
    assert answers[0] == answers[1] == (500, "Internal Server Error")
    for app in (fast, routed):  # and the error itself goes on to the server, which logs it
        with pytest.raises(RuntimeError, match="unforeseen"):
            asyncio.run(post(app, raise_errors=True))


def test_middleware_added_to_the_app_sees_event_posts_on_the_shortcut(world) -> None:  # noqa: ANN001
    """A middleware added later (request logs, request ids) wraps the shortcut too: the busiest route
    cannot silently miss it."""
    ua, ru = world.party("Ukraine"), world.party("Russia")
    nid = world.negotiation(ua, ru)
    seen: list[tuple[str, str]] = []

    class Spy:
        def __init__(self, app) -> None:  # noqa: ANN001
            self.app = app

        async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
            if scope["type"] == "http":
                seen.append((scope["method"], scope["path"]))
            await self.app(scope, receive, send)

    app = create_app(world.relay)
    app.add_middleware(Spy)
    assert app.event_post is not None  # the shortcut stays on
    transport = InProcessTransport(app)
    author = Client(ua.profile, transport=transport, clock=world.clock)
    try:
        author.send_message(nid, "through the shortcut, seen by the middleware")
    finally:
        author.close()
        transport.shutdown()
    assert ("POST", f"/v1/negotiations/{nid}/events") in seen
