"""The event post skips the router (``_EventPostFastPath``): it must answer exactly what the declared route
answers, refusals included."""

from __future__ import annotations

import httpx

from parley.client.sdk import Client
from parley.client.transport import InProcessTransport
from parley.crypto.httpsig import sign_request
from parley.relay.app import _EventPostFastPath, create_app


def _router_only(relay):  # noqa: ANN001, ANN202
    app = create_app(relay)
    app.user_middleware = [m for m in app.user_middleware if m.cls is not _EventPostFastPath]
    app.middleware_stack = None  # rebuilt on the first request, without the fast path
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
        metrics = httpx.Client(transport=world.transport).get("http://relay/metrics").text
        assert 'parley_errors_total{code="bad_input"}' in metrics  # refusals counted on the fast path too
    finally:
        router.shutdown()
