"""Authorization matrix: every relay endpoint x every kind of caller, with the status each must get.

The endpoints come from the app's own route list: a new endpoint without a rule in ``RULES`` fails
``test_authorization_matrix_covers_every_route``. The requests go over a real socket (a live stream
has to be opened and closed), each freshly signed unless the attack is a replay.

Callers (columns):
  anonymous  no signature at all
  outsider   a party enrolled at the relay but not in the negotiation (Türkiye)
  member     Ukraine's head, in the negotiation (the party routes target Ukraine)
  removed    a Ukraine delegate removed from the negotiation by a ``member.remove`` event
             (its device is still a valid Ukraine device in the directory)
  revoked    a Ukraine device revoked by the party root (directory and negotiation)
  forged     the member's request with one bit of the signature flipped
  replayed   the member's request, sent a second time
  expired    the member's request signed six minutes ago
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from fastapi.routing import APIRoute
from starlette.routing import Route

from conftest import served
from parley.client.sdk import Client
from parley.crypto.httpsig import sign_request
from parley.crypto.keys import EncryptionKey, SigningKey, new_nonce
from parley.protocol.events import Audience, Envelope, build_header, sign_header
from parley.protocol.identity import MemberCertificate, PartyRecord, Revocation, RootRotation
from parley.protocol.state import GENESIS, MEMBER_REMOVE
from parley.relay.app import create_app

CALLERS = ("anonymous", "outsider", "member", "removed", "revoked", "forged", "replayed", "expired")


def _public(status: int) -> tuple[int, ...]:
    return (status,) * len(CALLERS)


def _signed(outsider: int, member: int, removed: int) -> tuple[int, ...]:
    return (401, outsider, member, removed, 401, 401, 401, 401)


#: (method, path) -> expected status per caller, in the order of CALLERS
RULES: dict[tuple[str, str], tuple[int, ...]] = {
    ("GET", "/openapi.json"): _public(200),
    ("GET", "/docs"): _public(200),
    ("GET", "/docs/oauth2-redirect"): _public(200),
    ("GET", "/redoc"): _public(200),
    ("GET", "/healthz"): _public(200),
    ("GET", "/readyz"): _public(200),
    # Traffic figures only for a scraper holding the relay's metrics token (no caller here sends it).
    ("GET", "/metrics"): _public(401),
    ("GET", "/v1/relay"): _public(200),
    ("GET", "/public/agreements/{agreement_id}"): _public(404),  # none released
    ("GET", "/public/statements"): _public(200),
    # Enrolment is signed by a device certified in the request itself: nobody else's key will do.
    ("POST", "/v1/parties"): _public(401),
    ("GET", "/v1/parties"): _signed(200, 200, 200),
    ("GET", "/v1/parties/{party_id}"): _signed(200, 200, 200),
    ("POST", "/v1/parties/{party_id}/devices"): _signed(403, 201, 201),
    ("POST", "/v1/parties/{party_id}/revocations"): _signed(403, 200, 200),
    # A root rotation is recorded by a head of the party only (the "removed" caller is a delegate).
    ("POST", "/v1/parties/{party_id}/rotations"): _signed(403, 201, 403),
    ("GET", "/v1/negotiations"): _signed(200, 200, 200),
    # The genesis is the member's: another signer is refused (an event is authored by the request's signer).
    ("POST", "/v1/negotiations"): _signed(403, 201, 403),
    ("POST", "/v1/negotiations/{negotiation_id}/events"): _signed(404, 201, 403),
    ("GET", "/v1/negotiations/{negotiation_id}/events"): _signed(404, 200, 403),
    ("GET", "/v1/negotiations/{negotiation_id}/stream"): _signed(404, 200, 403),
    ("GET", "/v1/negotiations/{negotiation_id}/checkpoint"): _signed(404, 200, 403),
    ("GET", "/v1/negotiations/{negotiation_id}/proof/inclusion"): _signed(404, 200, 403),
    ("GET", "/v1/negotiations/{negotiation_id}/proof/consistency"): _signed(404, 200, 403),
    ("GET", "/v1/negotiations/{negotiation_id}/access-log"): _signed(404, 200, 403),
    # A cosignature must verify under the caller's own device key (the body is signed by the member).
    ("POST", "/v1/negotiations/{negotiation_id}/cosignatures"): _signed(404, 201, 403),
    ("GET", "/v1/negotiations/{negotiation_id}/cosignatures"): _signed(404, 200, 403),
    # The device-link mailbox: a new device has no key the relay knows, so it posts and collects unsigned
    # (the link code authenticates both messages end to end); a second post to one slot is refused.
    ("POST", "/link/{slot}"): (201, 201, 201, 201, 201, 201, 409, 201),
    ("GET", "/link/{slot}/answer"): _public(404),  # a fresh slot: nothing to collect
    ("GET", "/v1/links/{slot}"): _signed(404, 404, 404),
    ("POST", "/v1/links/{slot}/answer"): _signed(404, 404, 404),
}

QUERY = {
    "/v1/negotiations/{negotiation_id}/events": {"after": -1},
    "/v1/negotiations/{negotiation_id}/stream": {"after": 10_000},
    "/v1/negotiations/{negotiation_id}/proof/inclusion": {"size": 1, "index": 0},
    "/v1/negotiations/{negotiation_id}/proof/consistency": {"first": 1, "second": 2},
}


def route_keys(app) -> set[tuple[str, str]]:  # noqa: ANN001
    keys = set()
    for route in app.routes:
        if isinstance(route, APIRoute | Route):
            keys |= {(method, route.path) for method in route.methods if method != "HEAD"}
    return keys


def unruled(app) -> set[tuple[str, str]]:  # noqa: ANN001
    return route_keys(app) - set(RULES)


@dataclass
class Cast:
    world: object
    ukraine: Client
    russia: Client
    turkiye: Client
    removed: Client
    revoked: Client
    nid: str

    def caller(self, name: str) -> Client | None:
        return {"anonymous": None, "outsider": self.turkiye, "removed": self.removed,
                "revoked": self.revoked}.get(name, self.ukraine)


@pytest.fixture
def cast(talks) -> Cast:  # noqa: ANN001
    world, ukraine, russia, turkiye, nid = talks
    removed = world.member(ukraine, "Delegate (removed)", "delegate")
    revoked = world.member(ukraine, "Expert (revoked)", "expert")
    for client in (ukraine, russia, removed, revoked):
        client.sync(nid)
    # Removed from the negotiation only: the device stays valid in the party directory.
    revocation = Revocation.issue(ukraine.identity.root, removed.identity.device_key_id, world.clock.now, "removed")
    ukraine._post_public(nid, MEMBER_REMOVE, {"revocation": revocation.to_obj()})
    # Revoked by the party root: directory and negotiation.
    ukraine.remove_member(revoked.identity.device_key_id)
    russia.send_message(nid, "a second event, so that proofs between sizes 1 and 2 exist")
    return Cast(world, ukraine, russia, turkiye, removed, revoked, nid)


def _body(cast: Cast, method: str, path: str, caller: Client | None) -> bytes:
    """A well-formed body for the route, so that only authorization decides."""
    world, ukraine, now = cast.world, cast.ukraine, cast.world.clock.now
    if method != "POST":
        return b""
    if path == "/link/{slot}":
        return json.dumps({"request": {"signing_key": SigningKey.generate().public_b64,
                                       "encryption_key": EncryptionKey.generate().recipient,
                                       "mac": "0" * 64}}).encode()
    if path == "/v1/links/{slot}/answer":
        return json.dumps({"answer": {"blob": "AAAA", "mac": "0" * 64}}).encode()
    if path == "/v1/parties":
        root, device = SigningKey.generate(), SigningKey.generate()
        cert = MemberCertificate.issue(root, member="Head", role="head", signing_key=device.public_b64,
                                       encryption_key=EncryptionKey.generate().recipient,
                                       not_before=now - timedelta(minutes=5), not_after=now + timedelta(days=30))
        token = world.store.create_enrol_token("Newcomer", "2026-01-01T00:00:00Z")
        return json.dumps({"token": token, "party": PartyRecord.create(root, "Newcomer").to_obj(),
                           "certificates": [cert.to_obj()]}).encode()
    if path.endswith("/devices"):
        cert = MemberCertificate.issue(ukraine.identity.root, member="New device", role="observer",
                                       signing_key=SigningKey.generate().public_b64,
                                       encryption_key=EncryptionKey.generate().recipient,
                                       not_before=now - timedelta(minutes=5), not_after=now + timedelta(days=30))
        return json.dumps({"certificate": cert.to_obj()}).encode()
    if path.endswith("/cosignatures"):
        from parley.protocol.witness import witness_name
        from parley.tlog.checkpoint import Checkpoint
        from parley.tlog.cosignature import cosign

        size, root, _ = ukraine.cache.checkpoint(cast.nid)
        body = Checkpoint(ukraine.origin(cast.nid), size, root).to_text()
        signer = caller or ukraine
        return json.dumps({"size": size, "cosignature": cosign(
            body, witness_name(signer.identity.device_key_id), signer.identity.signing.private, 1)}).encode()
    if path.endswith("/revocations"):
        revocation = Revocation.issue(ukraine.identity.root, cast.revoked.identity.device_key_id, now, "again")
        return json.dumps({"revocation": revocation.to_obj()}).encode()
    if path.endswith("/rotations"):
        rotation = RootRotation.issue(ukraine.profile.party.party_id, ukraine.identity.root, SigningKey.generate(), now)
        return json.dumps({"rotation": rotation.to_obj()}).encode()
    if path == "/v1/negotiations":
        _, certs = ukraine.fetch_party(ukraine.profile.party.party_id)
        header = build_header(nonce=new_nonce(), negotiation="n-" + secrets.token_hex(8), author=ukraine.identity.device_key_id,
                              created=now, audience=Audience((ukraine.profile.party.party_id,)), prev=None,
                              public={"type": GENESIS, "content": {"party": ukraine.profile.party.to_obj(),
                                                                   "certificates": [c.to_obj() for c in certs]}})
        return Envelope(header, sign_header(ukraine.identity.signing, header), ()).to_json()
    # an event of the negotiation, written by the member (the only caller that could write one)
    captured: list[Envelope] = []
    original = ukraine._send
    ukraine._send = lambda _nid, envelope: captured.append(envelope)
    try:
        ukraine.send_message(cast.nid, f"matrix probe {secrets.token_hex(4)}")
    finally:
        ukraine._send = original
    return captured[0].to_json()


def _request(cast: Cast, http: httpx.Client, method: str, path_template: str, who: str) -> httpx.Request:
    path = path_template.format(negotiation_id=cast.nid, party_id=cast.ukraine.profile.party.party_id,
                                agreement_id="a-unknown", slot=secrets.token_hex(32))
    caller = cast.caller(who)
    content = _body(cast, method, path_template, caller)
    request = http.build_request(method, path, params=QUERY.get(path_template),
                                 content=content or None,
                                 headers={"Content-Type": "application/json"} if content else {})
    if caller is not None:
        now = cast.world.clock.now - (timedelta(minutes=6) if who == "expired" else timedelta(0))
        sign_request(request, key_id=caller.identity.device_key_id, private_key=caller.identity.signing.private,
                     now=now)
    if who == "forged":
        label, _, value = request.headers["Signature"].partition("=:")
        raw = bytearray(base64.b64decode(value.rstrip(":")))
        raw[7] ^= 0x01
        request.headers["Signature"] = f"{label}=:{base64.b64encode(bytes(raw)).decode()}:"
    return request


def _status(http: httpx.Client, request: httpx.Request) -> tuple[int, dict | None]:
    response = http.send(request, stream=True)
    try:
        if request.url.path.endswith("/stream") and response.status_code == 200:
            return 200, None  # a live stream: the status is the answer, then hang up
        response.read()
        body = response.json() if response.headers.get("content-type", "").startswith("application/json") else None
        return response.status_code, body
    finally:
        response.close()


def test_authorization_matrix_covers_every_route(world):
    missing = unruled(create_app(world.relay))
    assert not missing, f"endpoints without an authorization rule in RULES: {sorted(missing)}"
    assert not set(RULES) - route_keys(create_app(world.relay)), "rules for endpoints that no longer exist"


def test_a_new_endpoint_without_an_authorization_rule_fails_the_matrix(world):
    app = create_app(world.relay)

    @app.get("/v1/negotiations/{negotiation_id}/export")
    async def export(negotiation_id: str) -> dict:  # an endpoint someone forgot to guard
        return {}

    assert unruled(app) == {("GET", "/v1/negotiations/{negotiation_id}/export")}


def test_authorization_matrix_every_endpoint_every_caller(cast):
    results: dict[tuple[str, str], list[int]] = {}
    wrong = []
    with served(create_app(cast.world.relay)) as url, httpx.Client(base_url=url, timeout=10) as http:
        for (method, path), expected in sorted(RULES.items()):
            got = []
            for who, want in zip(CALLERS, expected, strict=True):
                request = _request(cast, http, method, path, "member" if who == "replayed" else who)
                if who == "replayed":
                    _status(http, request)  # the genuine first use
                status, body = _status(http, request)
                got.append(status)
                if status != want:
                    wrong.append(f"{method} {path} as {who}: expected {want}, got {status} {body}")
                elif status >= 400 and body is not None:
                    assert set(body) == {"error", "message"} and body["message"], body  # a clear error
                    if who == "replayed" and want == 401:
                        assert body["error"] in ("replayed_request", "unauthenticated")
            results[(method, path)] = got
    assert not wrong, "\n".join(wrong)
    assert len(results) == len(RULES) >= 23
    # Replays of the member's authenticated requests are refused as replays (not merely unauthenticated).
    with served(create_app(cast.world.relay)) as url, httpx.Client(base_url=url, timeout=10) as http:
        request = _request(cast, http, "GET", "/v1/negotiations/{negotiation_id}/checkpoint", "member")
        assert _status(http, request)[0] == 200
        assert _status(http, request) == (401, {"error": "replayed_request",
                                                "message": "this signed request was seen before (replayed request)"})


def test_matrix_rules_are_what_the_documentation_says(cast):
    """The table in docs/security.md is generated from RULES: keep them in sync."""
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "security.md").read_text()
    for (method, path), expected in RULES.items():
        row = f"| `{method} {path}` | " + " | ".join(str(s) for s in expected) + " |"
        assert row in doc, f"docs/security.md lacks the matrix row: {row}"


def matrix_markdown() -> str:
    """The matrix as a markdown table (pasted into docs/security.md)."""
    lines = ["| endpoint | " + " | ".join(CALLERS) + " |", "|---" * (len(CALLERS) + 1) + "|"]
    for (method, path), expected in sorted(RULES.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        lines.append(f"| `{method} {path}` | " + " | ".join(str(s) for s in expected) + " |")
    return "\n".join(lines)





def test_enrolment_signed_by_another_partys_device_is_refused(cast):
    """Found by the matrix: the relay accepted an enrolment signed by any registered device."""
    world = cast.world
    with httpx.Client(transport=world.transport, base_url="http://relay") as http:
        request = http.build_request("POST", "/v1/parties", content=_body(cast, "POST", "/v1/parties", None),
                                     headers={"Content-Type": "application/json"})
        sign_request(request, key_id=cast.turkiye.identity.device_key_id,
                     private_key=cast.turkiye.identity.signing.private)
        before = world.store.count_rows()["parties"]
        response = http.send(request)
    assert response.status_code == 401
    assert response.json()["message"] == "an enrolment must be signed by a device certified in it"
    assert world.store.count_rows()["parties"] == before
