"""Malformed, oversized or hostile input: schemathesis fuzzes the relay's own OpenAPI document.

The relay runs in process (ASGI through ``httpx.ASGITransport``). Every generated request (valid and
invalid per the schema) must get a documented status, never a 5xx, with a body that conforms to the
schema. Unsigned requests must be refused (4xx); signed requests are signed by a valid member device
(RFC 9421, a fresh nonce each), so the fuzzer reaches the handlers behind authentication.

Bounded: a fixed number of examples per run, no shrinking database, no deadline surprises.
"""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core import NOT_SET
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from parley.crypto.httpsig import sign_request
from parley.relay.app import create_app

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
FUZZ = settings(max_examples=150, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))


def _operations(app, *, skip_streams: bool) -> list:  # noqa: ANN001
    schema = schemathesis.openapi.from_dict(app.openapi())
    ops = [result.ok() for result in schema.get_all_operations()]
    return [op for op in ops if not (skip_streams and op.path.endswith("/stream"))]


def _cases(ops: list, fixed: dict[str, str] | None = None):  # noqa: ANN201
    strategies = []
    for op in ops:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategies.append(op.as_strategy(generation_mode=mode))
            names = {p.name for p in op.path_parameters} if hasattr(op, "path_parameters") else set()
            wanted = {k: v for k, v in (fixed or {}).items() if k in names or f"{{{k}}}" in op.path}
            if wanted:  # real ids too, so signed requests get past "not found"
                strategies.append(op.as_strategy(generation_mode=mode, path_parameters=wanted))
    return st.one_of(strategies)


def _to_request(http: httpx.Client, case) -> httpx.Request:  # noqa: ANN001
    content = None
    headers = {str(k): str(v) for k, v in (case.headers or {}).items()
               if str(k).lower() not in {"content-length", "host", "transfer-encoding"}}
    if case.body is not NOT_SET:
        content = case.body if isinstance(case.body, bytes) else json.dumps(case.body, default=str).encode()
        headers["Content-Type"] = case.media_type or "application/json"
    return http.build_request(case.method, case.formatted_path, params=case.query or None, content=content,
                              headers=headers)


def _check(case, response: httpx.Response) -> None:  # noqa: ANN001
    response.read()
    if not hasattr(response, "_elapsed"):  # the in-process transport builds responses without timing
        response.elapsed = timedelta(0)
    assert response.status_code < 500, (case.method, case.formatted_path, response.status_code, response.text)
    case.validate_response(response, checks=CHECKS)


def test_fuzzed_unauthenticated_requests_never_give_5xx_and_conform_to_the_schema(talks):
    world = talks[0]
    app = create_app(world.relay)
    ops = _operations(app, skip_streams=False)
    assert len(ops) >= 19
    seen: set[int] = set()

    with httpx.Client(transport=world.transport, base_url="http://relay") as http:
        @FUZZ
        @given(case=_cases(ops))
        def fuzz(case) -> None:  # noqa: ANN001
            response = http.send(_to_request(http, case))
            _check(case, response)
            seen.add(response.status_code)
            if case.path.startswith("/v1/") and case.path != "/v1/relay":
                assert 400 <= response.status_code < 500, (case.method, case.path, response.status_code)

        fuzz()
    assert 401 in seen


def test_fuzzed_signed_requests_by_a_member_never_give_5xx_and_conform_to_the_schema(talks):
    world, ukraine, _russia, _turkiye, nid = talks
    app = create_app(world.relay)
    ops = _operations(app, skip_streams=True)  # a valid live stream never ends: covered in test_limits
    fixed = {"negotiation_id": nid, "party_id": ukraine.profile.party.party_id}
    seen: set[int] = set()
    size = world.store.head(nid).size

    with httpx.Client(transport=world.transport, base_url="http://relay") as http:
        @FUZZ
        @given(case=_cases(ops, fixed))
        def fuzz(case) -> None:  # noqa: ANN001
            request = _to_request(http, case)
            sign_request(request, key_id=ukraine.identity.device_key_id, private_key=ukraine.identity.signing.private,
                         now=world.clock.now)
            response = http.send(request)
            _check(case, response)
            seen.add(response.status_code)

        fuzz()
    assert 200 in seen and 400 in seen  # reached both working handlers and input validation
    assert world.store.head(nid).size == size  # no fuzzed request became an event
    ukraine.sync(nid)  # and the log still verifies


@pytest.mark.parametrize("hostile", [
    b"[" * 100_000, b'{"header": ' * 50_000, b"\xff\xfe\x00garbage", b'{"header": {"v": 1e999999}}',
    json.dumps({"header": {"v": 1, "negotiation": "x" * 100_000}, "signature": "", "ciphertexts": []}).encode(),
])
def test_hostile_bodies_signed_by_a_member_get_a_clear_4xx(talks, hostile):
    world, ukraine, _russia, _turkiye, nid = talks
    with httpx.Client(transport=world.transport, base_url="http://relay") as http:
        for path in (f"/v1/negotiations/{nid}/events", "/v1/negotiations",
                     f"/v1/parties/{ukraine.profile.party.party_id}/devices"):
            request = http.build_request("POST", path, content=hostile, headers={"Content-Type": "application/json"})
            sign_request(request, key_id=ukraine.identity.device_key_id, private_key=ukraine.identity.signing.private)
            response = http.send(request)
            assert 400 <= response.status_code < 500, (path, response.status_code, response.text[:200])
            assert set(response.json()) == {"error", "message"}
