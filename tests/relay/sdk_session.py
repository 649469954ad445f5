"""One SDK session against the in-process relay, every answer recorded: what the OpenAPI tests check."""

from __future__ import annotations

import httpx
import pytest

from parley.client.workflow import Negotiation
from parley.errors import NotFoundError


def answers_of_a_session(world) -> list[tuple[str, str, httpx.Response]]:  # noqa: ANN001
    """(method, path, response) of every request of a session touching each JSON route, a refusal included."""
    ua, ru = world.party("Ukraine"), world.party("Russian Federation")
    nid = world.negotiation(ua, ru)
    answers: list[tuple[str, str, httpx.Response]] = []

    class Recording(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            response = world.transport.handle_request(request)
            response.read()
            answers.append((request.method, request.url.path, response))
            return response

    ua.conn.http._transport = Recording()
    try:
        Negotiation(ua, nid).client.send_message(nid, "shapes")
        ua.sync(nid)
        ua.conn.get(f"/v1/negotiations/{nid}/events")  # the whole log: public and encrypted events alike
        ua.list_parties()
        ua.conn.get(f"/v1/negotiations/{nid}/checkpoint")
        ua.conn.get(f"/v1/negotiations/{nid}/proof/inclusion", size=2, index=1)
        ua.conn.get(f"/v1/negotiations/{nid}/proof/consistency", first=1, second=2)
        ua.conn.get(f"/v1/negotiations/{nid}/access-log")
        ua.conn.get("/v1/negotiations")
        ua.conn.get(f"/v1/parties/{ua.profile.party.party_id}")
        for path in ("/v1/relay", "/healthz", "/readyz", "/public/statements"):
            ua.conn.get(path)
        with pytest.raises(NotFoundError):  # a refusal's answer is checked too
            ua.conn.get("/v1/parties/no-such-party")
    finally:
        ua.conn.http._transport = world.transport
    return answers
