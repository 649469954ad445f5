"""The OpenAPI description declares every answer's shape from the models in ``parley.relay.schemas``, and the
relay's real answers have those shapes: what a client generated from ``/openapi.json`` expects is what it
gets."""

from __future__ import annotations

import httpx
from sdk_session import answers_of_a_session

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
    answers = answers_of_a_session(world)
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
