"""The OpenAPI description declares every answer's shape from the models in ``parley.relay.schemas``, and the
relay's real answers have those shapes: what a client generated from ``/openapi.json`` expects is what it
gets."""

from __future__ import annotations

import httpx

from parley.client.workflow import Negotiation
from parley.relay import schemas

#: routes whose answer is not a JSON object (text, HTML, an event stream)
NOT_JSON = {"/metrics", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json",
            "/v1/negotiations/{negotiation_id}/stream"}


def _success_model(spec: dict, path: str, method: str) -> type | None:
    operation = spec["paths"][path][method]
    for status, answer in operation["responses"].items():
        if status.startswith("2"):
            schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
            ref = schema.get("$ref", "")
            return getattr(schemas, ref.rsplit("/", 1)[-1], None) if ref else None
    return None


def test_every_json_answer_is_declared_by_a_model(world) -> None:  # noqa: ANN001
    with httpx.Client(transport=world.transport, base_url="http://relay") as http:
        spec = http.get("/openapi.json").json()
    missing = [(method, path) for path, operations in spec["paths"].items() if path not in NOT_JSON
               for method in operations if _success_model(spec, path, method) is None]
    assert not missing, missing


def test_real_answers_have_the_declared_shapes(world) -> None:  # noqa: ANN001
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
        talks = Negotiation(ua, nid)
        talks.client.send_message(nid, "shapes")
        ua.sync(nid)
        ua.list_parties()
        ua.conn.get(f"/v1/negotiations/{nid}/checkpoint")
        ua.conn.get(f"/v1/negotiations/{nid}/proof/inclusion", size=2, index=1)
        ua.conn.get(f"/v1/negotiations/{nid}/proof/consistency", first=1, second=2)
        ua.conn.get(f"/v1/negotiations/{nid}/access-log")
        ua.conn.get("/v1/negotiations")
        ua.conn.get(f"/v1/parties/{ua.profile.party.party_id}")
        for path in ("/v1/relay", "/healthz", "/readyz", "/public/statements"):
            ua.conn.get(path)
    finally:
        ua.conn.http._transport = world.transport
    with httpx.Client(transport=world.transport, base_url="http://relay") as http:
        spec = http.get("/openapi.json").json()
    templates = {path: path.split("/") for path in spec["paths"]}

    def template_of(path: str) -> str:
        parts = path.split("/")
        for template, pieces in templates.items():
            if len(pieces) == len(parts) and all(p == q or p.startswith("{") for p, q in zip(pieces, parts)):
                return template
        raise AssertionError(path)

    checked = set()
    for method, path, response in answers:
        if response.status_code >= 300:
            continue
        template = template_of(path)
        model = _success_model(spec, template, method.lower())
        assert model is not None, template
        model.model_validate(response.json())
        checked.add((method, template))
    assert len(checked) >= 11, checked
