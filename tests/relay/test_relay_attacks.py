"""Attacks on the relay's API, each test named after the attack it stops.

Everything goes through the in-process relay with real RFC 9421 signed requests
(``parley.crypto.httpsig.sign_request``), built by hand where an attacker would
deviate from what the SDK sends.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import secrets
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from parley.client.sdk import Client
from parley.client.transport import InProcessTransport
from parley.crypto.httpsig import sign_request
from parley.crypto.keys import EncryptionKey, SigningKey
from parley.errors import AuthError, ForbiddenError, NotFoundError, RelayRefusal, TrustError
from parley.protocol.events import Envelope, sign_header
from parley.protocol.identity import MemberCertificate, PartyRecord
from parley.relay.app import Relay, create_app
from parley.store.relay_store import open_store
from parley.tlog.note import Signer

#: tables that legitimately grow on a refused but authenticated request
BOOKKEEPING = {"request_nonces", "access_log"}


# ---- helpers -------------------------------------------------------------------------------------------
def _request(client: Client, method: str, path: str, *, content: bytes = b"", params: dict | None = None,
             key: SigningKey | None = None, key_id: str | None = None, now: datetime | None = None,
             nonce: str | None = None, sign: bool = True) -> httpx.Request:
    headers = {"Content-Type": "application/json"} if content else {}
    request = client.conn.http.build_request(method, path, content=content, params=params, headers=headers)
    if sign:
        key = key or client.identity.signing
        sign_request(request, key_id=key_id or key.key_id, private_key=key.private, now=now, nonce=nonce)
    return request


def _send(client: Client, request: httpx.Request) -> httpx.Response:
    return client.conn.http.send(request)


def _error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error", "message"} and isinstance(body["message"], str) and body["message"]
    if code is not None:
        assert body["error"] == code, body
    return body


def _content_rows(world) -> dict[str, int]:  # noqa: ANN001
    return {k: v for k, v in world.store.count_rows().items() if k not in BOOKKEEPING}


def _captured_envelope(monkeypatch, client: Client, negotiation_id: str, text: str) -> Envelope:  # noqa: ANN001
    """A valid encrypted event built and signed by ``client``, but not sent."""
    captured: list[Envelope] = []
    with monkeypatch.context() as patch:
        patch.setattr(client, "_send", lambda _nid, envelope: captured.append(envelope))
        client.send_message(negotiation_id, text)
    (envelope,) = captured
    return envelope


@pytest.fixture
def talks(world):
    """Ukraine and Russia in one negotiation; Türkiye enrolled but not in it."""
    ukraine = world.party("Ukraine")
    russia = world.party("Russian Federation")
    turkiye = world.party("Türkiye")
    negotiation_id = world.negotiation(ukraine, russia)
    return world, ukraine, russia, turkiye, negotiation_id


# ---- request authentication ---------------------------------------------------------------------------
def test_replayed_signed_request_is_rejected(talks):
    world, ukraine, _russia, _turkiye, negotiation_id = talks
    request = _request(ukraine, "GET", f"/v1/negotiations/{negotiation_id}/events", params={"after": -1})
    assert _send(ukraine, request).status_code == 200
    _error(_send(ukraine, request), 401, "replayed_request")

    # Through a bare httpx client on the same transport, as an eavesdropper would resend it.
    request = _request(ukraine, "GET", "/v1/negotiations")
    assert _send(ukraine, request).status_code == 200
    before = _content_rows(world)
    with httpx.Client(transport=world.transport, base_url="http://relay") as http:
        for _ in range(3):
            _error(http.send(request), 401, "replayed_request")
    assert _content_rows(world) == before


def test_replayed_signed_post_is_rejected_and_not_stored_twice(talks, monkeypatch):
    world, ukraine, _russia, _turkiye, negotiation_id = talks
    envelope = _captured_envelope(monkeypatch, ukraine, negotiation_id, "accepted once")
    request = _request(ukraine, "POST", f"/v1/negotiations/{negotiation_id}/events", content=envelope.to_json())
    size = world.store.head(negotiation_id).size
    assert _send(ukraine, request).status_code == 201
    _error(_send(ukraine, request), 401, "replayed_request")
    assert world.store.head(negotiation_id).size == size + 1


def test_replayed_request_to_another_relay_process_is_rejected(any_db_world):
    """The nonce store is the database: a second relay process on it refuses the replay too."""
    world = any_db_world
    ukraine = world.party("Ukraine")
    url = world.store.engine.url.render_as_string(hide_password=False)
    other = Relay(open_store(url), world.relay.signer, world.relay.name, clock=world.clock)
    transport = InProcessTransport(create_app(other))
    try:
        request = _request(ukraine, "GET", "/v1/parties")
        assert _send(ukraine, request).status_code == 200
        with httpx.Client(transport=transport, base_url="http://relay") as http:
            response = http.send(request)
        _error(response, 401, "replayed_request")
    finally:
        transport.shutdown()
        other.close()


def test_replayed_post_through_another_relay_process_is_refused_by_the_log(any_db_world, monkeypatch):
    """An event post stores no request nonce: the event is its own (16 random bytes in its signed header).
    Resent to a second relay process, which never saw the request, it is refused because the log holds
    that event already, and it is not stored twice."""
    world = any_db_world
    ukraine = world.party("Ukraine")
    russia = world.party("Russian Federation")
    negotiation_id = world.negotiation(ukraine, russia)
    url = world.store.engine.url.render_as_string(hide_password=False)
    other = Relay(open_store(url), world.relay.signer, world.relay.name, clock=world.clock)
    transport = InProcessTransport(create_app(other))
    try:
        envelope = _captured_envelope(monkeypatch, ukraine, negotiation_id, "posted once")
        request = _request(ukraine, "POST", f"/v1/negotiations/{negotiation_id}/events", content=envelope.to_json())
        nonces = world.store.count_rows()["request_nonces"]
        size = world.store.head(negotiation_id).size
        assert _send(ukraine, request).status_code == 201
        assert world.store.count_rows()["request_nonces"] == nonces  # no row per post
        with httpx.Client(transport=transport, base_url="http://relay") as http:
            response = http.send(request)
        _error(response, 422, "protocol_violation")
        assert "replayed event" in response.json()["message"]
        assert world.store.head(negotiation_id).size == size + 1
        rows = world.store.events(negotiation_id, size - 1, 10, reader=None)
        assert [row.event_id for row in rows] == [envelope.event_id]
    finally:
        transport.shutdown()
        other.close()


def test_replayed_listing_through_another_relay_process_is_rejected_and_logs_nothing(any_db_world):
    """A listing stores its nonce with its access-log rows (one commit): replayed through a second relay
    process, which has not seen it in memory, the database refuses it and no second access is logged.
    A listing refused before that commit (unknown negotiation) keeps its nonce all the same."""
    world = any_db_world
    ukraine = world.party("Ukraine")
    russia = world.party("Russian Federation")
    negotiation_id = world.negotiation(ukraine, russia)
    russia.send_message(negotiation_id, "for the log")
    url = world.store.engine.url.render_as_string(hide_password=False)
    other = Relay(open_store(url), world.relay.signer, world.relay.name, clock=world.clock)
    transport = InProcessTransport(create_app(other))
    try:
        listing = _request(ukraine, "GET", f"/v1/negotiations/{negotiation_id}/events", params={"after": -1})
        assert _send(ukraine, listing).status_code == 200
        logged = len(world.store.access_log(negotiation_id))
        assert logged > 0
        unknown = _request(ukraine, "GET", "/v1/negotiations/n-does-not-exist/events", params={"after": -1})
        _error(_send(ukraine, unknown), 404, "not_found")
        with httpx.Client(transport=transport, base_url="http://relay") as http:
            _error(http.send(listing), 401, "replayed_request")
            _error(http.send(unknown), 401, "replayed_request")
        assert len(world.store.access_log(negotiation_id)) == logged
    finally:
        transport.shutdown()
        other.close()


def test_request_signed_by_revoked_device_is_rejected(talks):
    world, ukraine, russia, _turkiye, negotiation_id = talks
    delegate = world.member(ukraine, "Delegate", "delegate")
    delegate.sync(negotiation_id)
    request_before_removal = _request(delegate, "GET", "/v1/negotiations")
    ukraine.remove_member(delegate.identity.device_key_id)

    _error(_send(delegate, _request(delegate, "GET", f"/v1/negotiations/{negotiation_id}/events")), 401,
           "unauthenticated")
    _error(_send(delegate, request_before_removal), 401, "unauthenticated")
    with pytest.raises(AuthError):
        delegate.sync(negotiation_id)
    size = world.store.head(negotiation_id).size
    with pytest.raises(AuthError):
        delegate.send_message(negotiation_id, "still here?")
    assert world.store.head(negotiation_id).size == size
    # The others carry on, and encrypt no longer to the removed device.
    posted = russia.send_message(negotiation_id, "after the removal")
    (row,) = world.store.events(negotiation_id, posted.seq - 1, 1, reader=delegate.identity.device_key_id)
    assert row.ciphertexts == {}


def test_forged_request_signature_is_rejected(talks):
    world, ukraine, russia, _turkiye, negotiation_id = talks
    path = f"/v1/negotiations/{negotiation_id}/events"
    # 1. A signature with one bit flipped.
    request = _request(ukraine, "GET", path)
    label, _, value = request.headers["Signature"].partition("=:")
    raw = bytearray(base64.b64decode(value.rstrip(":")))
    raw[5] ^= 0x01
    request.headers["Signature"] = f"{label}=:{base64.b64encode(bytes(raw)).decode()}:"
    _error(_send(ukraine, request), 401, "unauthenticated")
    # 2. Ukraine's device key id, signed by another key (impersonation).
    impostor = SigningKey.generate()
    _error(_send(ukraine, _request(ukraine, "GET", path, key=impostor, key_id=ukraine.identity.device_key_id)),
           401, "unauthenticated")
    # 3. A key the relay never heard of.
    _error(_send(ukraine, _request(ukraine, "GET", path, key=impostor)), 401, "unauthenticated")
    # 4. A valid signature, another body: the Content-Digest no longer matches.
    mine = _request(russia, "POST", path, content=b'{"header": {}, "signature": "", "ciphertexts": []}')
    tampered = httpx.Request("POST", mine.url, headers={k: v for k, v in mine.headers.items()
                                                        if k.lower() != "content-length"},
                             content=b'{"header": {}, "signature": "x", "ciphertexts": []}')
    _error(_send(russia, tampered), 401, "unauthenticated")
    # 5. A valid signature replayed against another path or query (covered components).
    signed = _request(russia, "GET", path, params={"after": 0})
    moved = httpx.Request("GET", signed.url.copy_with(params={"after": -1}), headers=signed.headers)
    _error(_send(russia, moved), 401, "unauthenticated")
    elsewhere = httpx.Request("GET", signed.url.copy_with(path=f"/v1/negotiations/{negotiation_id}/checkpoint"),
                              headers=signed.headers)
    _error(_send(russia, elsewhere), 401, "unauthenticated")
    # 6. Signature headers that are not RFC 9421 at all.
    for headers in ({"Signature": "parley=:AAAA:"}, {"Signature-Input": "garbage", "Signature": "garbage"},
                    {"Authorization": "Bearer " + secrets.token_hex(16)}):
        request = _request(ukraine, "GET", path, sign=False)
        request.headers.update(headers)
        _error(_send(ukraine, request), 401, "unauthenticated")
    assert world.store.count_rows()["parties"] == 3


def test_expired_request_signature_is_rejected(talks, clock):
    _world, ukraine, _russia, _turkiye, negotiation_id = talks
    path = f"/v1/negotiations/{negotiation_id}/checkpoint"
    old = _request(ukraine, "GET", path, now=clock.now - timedelta(minutes=6))
    _error(_send(ukraine, old), 401, "unauthenticated")
    future = _request(ukraine, "GET", path, now=clock.now + timedelta(minutes=5))
    _error(_send(ukraine, future), 401, "unauthenticated")
    # A captured request, fine when made, is refused once the relay's clock has moved on.
    captured = _request(ukraine, "GET", path, now=clock.now)
    clock.now += timedelta(minutes=5, seconds=1)
    _error(_send(ukraine, captured), 401, "unauthenticated")
    # A fresh signature made at the relay's time works.
    assert _send(ukraine, _request(ukraine, "GET", path, now=clock.now)).status_code == 200


# ---- posting events ------------------------------------------------------------------------------------
def test_member_posting_in_the_name_of_another_party_is_refused(talks, monkeypatch):
    world, ukraine, russia, _turkiye, negotiation_id = talks
    russian_event = _captured_envelope(monkeypatch, russia, negotiation_id, "Russia's words, posted by Ukraine")
    size = world.store.head(negotiation_id).size
    before = _content_rows(world)
    with pytest.raises(ForbiddenError):
        ukraine.conn.post(f"/v1/negotiations/{negotiation_id}/events", raw=russian_event.to_json())
    response = _send(ukraine, _request(ukraine, "POST", f"/v1/negotiations/{negotiation_id}/events",
                                       content=russian_event.to_json()))
    _error(response, 403, "forbidden")
    # The same with a header re-signed by Ukraine's device: the author is still not the signer of the request.
    header = replace(russian_event.header, nonce=base64.b64encode(secrets.token_bytes(16)).decode())
    forged = Envelope(header, sign_header(ukraine.identity.signing, header), russian_event.ciphertexts)
    _error(_send(ukraine, _request(ukraine, "POST", f"/v1/negotiations/{negotiation_id}/events",
                                   content=forged.to_json())), 403, "forbidden")
    assert world.store.head(negotiation_id).size == size and _content_rows(world) == before
    # Russia itself may post it: the event was valid, only the poster was wrong.
    answer = russia.conn.post(f"/v1/negotiations/{negotiation_id}/events", raw=russian_event.to_json())
    assert answer["seq"] == size


def test_event_with_a_signature_by_another_key_is_refused(talks, monkeypatch):
    world, ukraine, _russia, _turkiye, negotiation_id = talks
    envelope = _captured_envelope(monkeypatch, ukraine, negotiation_id, "re-signed")
    impostor = SigningKey.generate()
    forged = Envelope(envelope.header, sign_header(impostor, envelope.header), envelope.ciphertexts)
    size = world.store.head(negotiation_id).size
    _error(_send(ukraine, _request(ukraine, "POST", f"/v1/negotiations/{negotiation_id}/events",
                                   content=forged.to_json())), 422, "bad_signature")
    # A rewritten ciphertext no longer matches the digest the author signed.
    rewritten = Envelope(envelope.header, envelope.signature, (envelope.ciphertexts[0][:-1] + b"!",))
    response = _send(ukraine, _request(ukraine, "POST", f"/v1/negotiations/{negotiation_id}/events",
                                       content=rewritten.to_json()))
    assert 400 <= response.status_code < 500
    assert world.store.head(negotiation_id).size == size


def test_relay_refuses_event_from_non_member(talks, monkeypatch):
    world, ukraine, _russia, turkiye, negotiation_id = talks
    size = world.store.head(negotiation_id).size
    before = _content_rows(world)
    # A party that was never invited: the relay does not even confirm that the negotiation exists.
    envelope = _captured_envelope(monkeypatch, ukraine, negotiation_id, "template")
    header = replace(envelope.header, author=turkiye.identity.device_key_id,
                     audience=replace(envelope.header.audience, parties=(turkiye.profile.party.party_id,)))
    outsider_event = Envelope(header, sign_header(turkiye.identity.signing, header), envelope.ciphertexts)
    _error(_send(turkiye, _request(turkiye, "POST", f"/v1/negotiations/{negotiation_id}/events",
                                   content=outsider_event.to_json())), 404, "not_found")
    with pytest.raises(NotFoundError):
        turkiye.sync(negotiation_id)
    _error(_send(turkiye, _request(turkiye, "GET", f"/v1/negotiations/{negotiation_id}/events")), 404)
    # A device of a member party, enrolled in the directory but never added to the negotiation's log.
    newcomer_signing, newcomer_encryption = SigningKey.generate(), EncryptionKey.generate()
    cert = MemberCertificate.issue(ukraine.identity.root, member="Unannounced", role="delegate",
                                   signing_key=newcomer_signing.public_b64,
                                   encryption_key=newcomer_encryption.recipient,
                                   not_before=world.clock.now - timedelta(minutes=5),
                                   not_after=world.clock.now + timedelta(days=30))
    ukraine.conn.post(f"/v1/parties/{ukraine.profile.party.party_id}/devices", {"certificate": cert.to_obj()})
    header = replace(envelope.header, author=newcomer_signing.key_id)
    unannounced = Envelope(header, sign_header(newcomer_signing, header), envelope.ciphertexts)
    response = _send(ukraine, _request(ukraine, "POST", f"/v1/negotiations/{negotiation_id}/events",
                                       content=unannounced.to_json(), key=newcomer_signing))
    _error(response, 422, "protocol_violation")
    assert world.store.head(negotiation_id).size == size
    after = _content_rows(world)
    assert after.pop("devices") == before.pop("devices") + 1
    assert after == before


def test_oversized_request_body_is_refused(talks, tmp_path, clock, monkeypatch):
    world, ukraine, _russia, _turkiye, negotiation_id = talks
    path = f"/v1/negotiations/{negotiation_id}/events"
    limit = world.relay.limits.max_request_bytes
    before = _content_rows(world)
    # Declared too large: refused before the body is read or the signature checked.
    big = b"{" + b" " * limit + b"}"
    _error(_send(ukraine, _request(ukraine, "POST", path, content=big)), 413, "over_limit")
    # A ciphertext over its own limit inside an otherwise small request.
    envelope = _captured_envelope(monkeypatch, ukraine, negotiation_id, "small")
    huge_blob = secrets.token_bytes(world.relay.limits.max_ciphertext_bytes + 1)
    oversize = {**envelope.to_obj(), "ciphertexts": [base64.b64encode(huge_blob).decode()]}
    _error(_send(ukraine, _request(ukraine, "POST", path, content=json.dumps(oversize).encode())), 413, "over_limit")
    assert _content_rows(world) == before

    # A streamed body with no Content-Length is counted as it arrives (a relay with a 4 KiB limit).
    small = Relay(open_store(str(tmp_path / "small.db")), Signer("small.test", SigningKey.generate().private),
                  "small.test", limits=replace(world.relay.limits, max_request_bytes=4096), clock=clock)

    async def stream_too_much() -> list[httpx.Response]:
        async def chunks():
            for _ in range(10):
                yield b"x" * 1024

        transport = httpx.ASGITransport(app=create_app(small))
        async with httpx.AsyncClient(transport=transport, base_url="http://relay") as http:
            request = http.build_request("POST", "/v1/negotiations", content=chunks())
            assert "content-length" not in request.headers
            return [await http.send(request), await http.post("/v1/negotiations", content=b"x" * 5000)]

    try:
        for response in asyncio.run(stream_too_much()):
            _error(response, 413, "over_limit")
    finally:
        small.close()


# ---- malformed input -----------------------------------------------------------------------------------
MALFORMED_BODIES = (
    b"", b"{", b"[]", b"null", b"0", b'"text"', b"{}", b'{"header": 1}', b'{"header": null, "signature": 1}',
    b'{"header": {}, "signature": "", "ciphertexts": []}', b'{"certificate": "x"}', b'{"revocation": []}',
    b'{"token": 1, "party": {}, "certificates": []}', b'{"a": ' * 50 + b"1" + b"}" * 50,
    b"\xff\xfe\x00{", "{\"header\": \"\u202e\ud7ff\"}".encode(), b"[" * 5000 + b"]" * 5000,
)
BAD_QUERY_VALUES = ("abc", "-7", "1.5", "", "0x10", "NaN", "99999999999999999999999999")


def _routes(relay: Relay) -> list[APIRoute]:
    return [r for r in create_app(relay).routes if isinstance(r, APIRoute)]


def _path(route: APIRoute, values: dict[str, str], default: str = "unknown-id") -> str:
    """The route's path with its parameters filled in (ids this test does not know get ``default``)."""
    path = route.path
    for param in route.dependant.path_params:
        path = path.replace("{" + param.name + "}", values.get(param.name, default))
    return path


def test_malformed_json_at_every_endpoint_answers_4xx_and_changes_nothing(talks):
    world, ukraine, _russia, _turkiye, negotiation_id = talks
    values = {"party_id": ukraine.profile.party.party_id, "negotiation_id": negotiation_id}
    rng = random.Random(9421)
    bodies = [*MALFORMED_BODIES, *(rng.randbytes(rng.randint(1, 300)) for _ in range(5))]
    before = _content_rows(world)
    head = world.store.head(negotiation_id)
    tried = 0
    for route in _routes(world.relay):
        path = _path(route, values)
        if "POST" in route.methods:
            for body in bodies:
                response = _send(ukraine, _request(ukraine, "POST", path, content=body))
                assert 400 <= response.status_code < 500, (path, body[:40], response.status_code, response.text)
                _error(response, response.status_code)
                tried += 1
        if "GET" in route.methods and route.dependant.query_params:
            names = [p.name for p in route.dependant.query_params]
            for name in names:
                for value in BAD_QUERY_VALUES:
                    if name == "after" and value == BAD_QUERY_VALUES[-1]:
                        continue  # a huge "after" is a valid, empty page
                    params = {name: value}
                    response = _send(ukraine, _request(ukraine, "GET", path, params=params))
                    assert 400 <= response.status_code < 500, (path, params, response.status_code, response.text)
                    _error(response, response.status_code)
                    tried += 1
    # Ids that are not ids, in every path parameter.
    for route in _routes(world.relay):
        if not route.dependant.path_params:
            continue
        for bad in ("x" * 300, "..%2F..%2Fetc", "%00", "n-" + "0" * 16):
            path = _path(route, {}, default=bad)
            method = "POST" if "POST" in route.methods else "GET"
            params = {"size": 1, "first": 0, "second": 0} if "proof" in route.path else None
            response = _send(ukraine, _request(ukraine, method, path, content=b"{}" if method == "POST" else b"",
                                               params=params))
            assert 400 <= response.status_code < 500, (path, response.status_code, response.text)
            tried += 1
    assert tried > 200
    assert _content_rows(world) == before
    assert world.store.head(negotiation_id) == head


# ---- the directory -------------------------------------------------------------------------------------
def _forged_certificate(victim: Client, clock) -> MemberCertificate:  # noqa: ANN001
    """A certificate naming ``victim``'s party, signed by a root the party does not hold."""
    attacker_root = SigningKey.generate()
    cert = MemberCertificate.issue(attacker_root, member="Mole", role="head",
                                   signing_key=SigningKey.generate().public_b64,
                                   encryption_key=EncryptionKey.generate().recipient,
                                   not_before=clock.now - timedelta(minutes=5),
                                   not_after=clock.now + timedelta(days=30))
    return replace(cert, party_id=victim.profile.party.party_id)


def test_directory_cannot_inject_member_certificate(talks, clock):
    world, ukraine, russia, turkiye, negotiation_id = talks
    party_id = ukraine.profile.party.party_id
    forged = _forged_certificate(ukraine, clock)
    # A member (not the administrator) of the party tries to register a key the root did not sign.
    delegate = world.member(ukraine, "Delegate")
    before = _content_rows(world)
    with pytest.raises(RelayRefusal) as refusal:  # the relay's verdict, not the delegate's own detection
        delegate.conn.post(f"/v1/parties/{party_id}/devices", {"certificate": forged.to_obj()})
    assert refusal.value.relay_code == "untrusted"
    _error(_send(delegate, _request(delegate, "POST", f"/v1/parties/{party_id}/devices",
                                    content=json.dumps({"certificate": forged.to_obj()}).encode())), 422, "untrusted")
    # Another party cannot register devices for Ukraine, even with a genuine-looking certificate.
    _error(_send(turkiye, _request(turkiye, "POST", f"/v1/parties/{party_id}/devices",
                                   content=json.dumps({"certificate": forged.to_obj()}).encode())), 403, "forbidden")
    assert _content_rows(world) == before
    assert world.store.get_device(forged.device_key_id) is None

    # A relay that writes the key into its directory anyway is caught by the clients.
    world.store.add_device(forged.device_key_id, party_id, json.dumps(forged.to_obj()))
    with pytest.raises(TrustError):
        russia.fetch_party(party_id)
    posted = russia.send_message(negotiation_id, "not for the mole")
    (row,) = world.store.events(negotiation_id, posted.seq - 1, 1, reader=None)
    header = json.loads(row.header)
    assert all(forged.device_key_id not in ref["recipients"] for ref in header["ciphertexts"])


def test_enrolment_with_a_forged_party_record_is_refused(world):
    token = world.store.create_enrol_token("Ukraine", "2026-01-01T00:00:00Z")
    root, impostor_root = SigningKey.generate(), SigningKey.generate()
    record = PartyRecord.create(root, "Ukraine")
    forged_record = {**record.to_obj(), "signature": PartyRecord.create(impostor_root, "Ukraine").to_obj()["signature"]}
    device = SigningKey.generate()
    cert = MemberCertificate.issue(root, member="Head", role="head", signing_key=device.public_b64,
                                   encryption_key=EncryptionKey.generate().recipient,
                                   not_before=world.clock.now - timedelta(minutes=5),
                                   not_after=world.clock.now + timedelta(days=30))
    genuine = json.dumps({"token": token, "party": record.to_obj(), "certificates": [cert.to_obj()]}).encode()
    forged = json.dumps({"token": token, "party": forged_record, "certificates": [cert.to_obj()]}).encode()
    before = world.store.count_rows()
    with httpx.Client(transport=world.transport, base_url="http://relay") as http:
        def signed(body: bytes, key: SigningKey) -> httpx.Request:
            request = http.build_request("POST", "/v1/parties", content=body)
            sign_request(request, key_id=key.key_id, private_key=key.private)
            return request

        # A party record not signed by the root it names, though signed by the certified device.
        _error(http.send(signed(forged, device)), 422, "untrusted")
        # A genuine enrolment signed by a device the request does not certify.
        _error(http.send(signed(genuine, SigningKey.generate())), 401, "unauthenticated")
        # Unsigned.
        _error(http.post("/v1/parties", content=genuine), 401, "unauthenticated")
        assert world.store.count_rows() == before  # nothing stored, the token still unused
        assert http.send(signed(genuine, device)).status_code == 201
        # and now used up
        _error(http.send(signed(genuine, device)), 401, "unauthenticated")


# ---- unauthenticated access ----------------------------------------------------------------------------
def test_unauthenticated_requests_to_the_api_are_refused(talks):
    world, ukraine, _russia, _turkiye, negotiation_id = talks
    values = {"party_id": ukraine.profile.party.party_id, "negotiation_id": negotiation_id}
    before = world.store.count_rows()
    token = world.store.create_enrol_token("Unsigned", "2026-01-01T00:00:00Z")
    root, device = SigningKey.generate(), SigningKey.generate()
    cert = MemberCertificate.issue(root, member="Head", role="head", signing_key=device.public_b64,
                                   encryption_key=EncryptionKey.generate().recipient,
                                   not_before=world.clock.now - timedelta(minutes=5),
                                   not_after=world.clock.now + timedelta(days=30))
    enrol_body = json.dumps({"token": token, "party": PartyRecord.create(root, "Unsigned").to_obj(),
                             "certificates": [cert.to_obj()]}).encode()
    before = world.store.count_rows()
    checked = []
    with httpx.Client(transport=world.transport, base_url="http://relay") as http:
        for route in _routes(world.relay):
            if not route.path.startswith("/v1/") or route.path == "/v1/relay":
                continue
            path = _path(route, values)
            params = {p.name: "1" for p in route.dependant.query_params if p.field_info.is_required()}
            for method in route.methods:
                content = enrol_body if route.path == "/v1/parties" and method == "POST" else b"{}"
                response = http.request(method, path, params=params, content=content if method == "POST" else None)
                _error(response, 401, "unauthenticated")
                checked.append((method, route.path))
    assert len(checked) >= 12
    assert world.store.count_rows() == before


def test_metrics_without_the_token_tell_an_outsider_nothing_of_the_traffic(talks):
    """Anyone who reaches the relay could read events accepted and refusals by code from /metrics (how
    busy the talks are, and when): it answers only with the relay's metrics token."""
    world, _ukraine, russia, _turkiye, negotiation_id = talks
    russia.send_message(negotiation_id, "counted")
    with httpx.Client(transport=world.transport, base_url="http://relay") as http:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": world.relay.metrics_token}):
            refused = http.get("/metrics", headers=headers)
            assert refused.status_code == 401
            assert "parley_" not in refused.text
    world.relay.metrics_token = None  # no token configured: not served at all
    with httpx.Client(transport=world.transport, base_url="http://relay") as http:
        assert http.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 404


def test_health_metrics_and_openapi_need_no_signature(talks):
    world, ukraine, russia, _turkiye, negotiation_id = talks
    russia.send_message(negotiation_id, "counted")
    with httpx.Client(transport=world.transport, base_url="http://relay") as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        ready = http.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        http.get("/v1/parties")  # one refused request, counted by code
        metrics = http.get("/metrics", headers={"Authorization": f"Bearer {world.relay.metrics_token}"})
        assert metrics.status_code == 200
        assert metrics.headers["content-type"].startswith("text/plain")
        samples = {}
        for line in metrics.text.splitlines():
            if not line or line.startswith("#"):
                assert line == "" or line.startswith("# TYPE ") or line.startswith("# HELP ")
                continue
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
        assert samples["parley_events_accepted_total"] >= world.store.head(negotiation_id).size
        assert samples["parley_requests_authenticated_total"] > 0
        assert samples['parley_errors_total{code="unauthenticated"}'] >= 1
        assert http.get("/public/statements").status_code == 200
        spec = http.get("/openapi.json").json()
        assert spec["info"]["title"] == "parley relay"
        assert "/v1/negotiations/{negotiation_id}/events" in spec["paths"]
        info = http.get("/v1/relay").json()
        assert info["vkey"] == world.relay.signer.vkey() and info["name"] == world.relay.name
