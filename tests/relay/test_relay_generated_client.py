"""A client generated from the relay's ``/openapi.json`` runs against the relay.

``datamodel-code-generator`` (``--generate-client httpx2``, docs/interop.md) writes the pydantic models of the
served description and an HTTPX2 package with one method per operation; it is generated once per test session
into a temporary directory and imported from there. It reaches the in-process relay through the world's
transport (``httpx.ASGITransport``), its requests signed per RFC 9421 by an ``httpx2.Auth`` over
``parley.crypto.httpsig.sign_request``, and it decodes every answer into the generated models, which check it.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import httpx2
import pytest
from datamodel_code_generator import ClientType, DataModelType, InputFileType, generate
from pydantic import BaseModel
from sdk_session import answers_of_a_session

import parley.client.sdk as sdk
from parley.client.transport import InProcessTransport
from parley.client.workflow import Negotiation
from parley.crypto.httpsig import sign_request
from parley.crypto.keys import SigningKey
from parley.relay.app import Relay, create_app
from parley.store.relay_store import open_store
from parley.tlog.note import Signer

CLIENT_PACKAGE = "parley_generated_relay_client"
MODELS_MODULE = "parley_generated_relay_models"
#: the generated models' fields left as plain JSON objects: none (the signed objects a public event carries are
#: the directory's declarations, ``parley.relay.schemas.PartyRecord`` and the others)
SIGNED_OBJECTS: set[str] = set()


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    """The client package and models generated from the ``/openapi.json`` a relay serves, imported."""
    where = tmp_path_factory.mktemp("generated_client")
    # a relay of its own (the world fixture is per test): the description does not depend on what it holds
    relay = Relay(open_store(str(where / "relay.db")), Signer("relay.test", SigningKey.generate().private),
                  "relay.test")
    transport = InProcessTransport(create_app(relay))
    try:
        with httpx.Client(transport=transport, base_url="http://relay") as http:
            document = http.get("/openapi.json").raise_for_status().json()
    finally:
        transport.shutdown()
        relay.close()
    started = time.perf_counter()
    generate(json.dumps(document), input_file_type=InputFileType.OpenAPI,
             output=where / f"{MODELS_MODULE}.py", output_model_type=DataModelType.PydanticV2BaseModel,
             disable_timestamp=True, formatters=[],  # formatting would triple the time, for code no one reads
             generate_client=ClientType.HTTPX2, client_output=where / CLIENT_PACKAGE,
             client_package=CLIENT_PACKAGE, client_model_package=MODELS_MODULE,
             client_default_base_url="http://relay")
    seconds = time.perf_counter() - started
    sys.path.insert(0, str(where))
    try:
        client = importlib.import_module(CLIENT_PACKAGE)
        yield SimpleNamespace(client=client, models=importlib.import_module(MODELS_MODULE),
                              errors=importlib.import_module(f"{CLIENT_PACKAGE}.errors"),
                              document=document, seconds=seconds)
    finally:
        sys.path.remove(str(where))
        for name in [name for name in sys.modules if name.split(".")[0] in (CLIENT_PACKAGE, MODELS_MODULE)]:
            del sys.modules[name]


class ThroughTheWorld(httpx2.BaseTransport):
    """An HTTPX2 transport onto an in-process relay: each request goes through ``transport`` (an httpx one,
    ``httpx.ASGITransport`` underneath) as the same method, URL, headers and bytes."""

    def __init__(self, transport: httpx.BaseTransport) -> None:
        self.transport = transport

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        answer = self.transport.handle_request(httpx.Request(
            request.method, str(request.url), headers=request.headers.multi_items(), content=request.read()))
        return httpx2.Response(answer.status_code, headers=answer.headers.multi_items(), content=answer.read(),
                               request=request)


class DeviceSignature(httpx2.Auth):
    """Signs every request with a device key (RFC 9421, as every parley client does)."""

    requires_request_body = True  # the Content-Digest covers the body

    def __init__(self, key: SigningKey) -> None:
        self.key = key

    def auth_flow(self, request: httpx2.Request) -> Iterator[httpx2.Request]:
        sign_request(request, key_id=self.key.key_id, private_key=self.key.private)  # type: ignore[arg-type]
        yield request


def _client(generated: SimpleNamespace, transport: httpx2.BaseTransport, key: SigningKey | None = None) -> Any:
    return generated.client.Client(base_url="http://relay", http_client=httpx2.Client(transport=transport),
                                   auth=None if key is None else DeviceSignature(key), max_retries=0)


def test_the_client_is_generated_in_seconds(generated) -> None:  # noqa: ANN001
    operations = {operation["operationId"] for path in generated.document["paths"].values()
                  for operation in path.values()}
    assert {"list_events", "checkpoint", "relay_info", "healthz"} <= operations
    resource = generated.client.Client(base_url="http://relay").default
    missing = sorted(name for name in operations if not callable(getattr(resource, name, None)))
    assert not missing, missing
    print(f"generated in {generated.seconds:.2f} s")  # noqa: T201 - the figure docs/interop.md quotes


def test_public_reads_decode_into_the_generated_models(generated, world) -> None:  # noqa: ANN001
    models = generated.models
    with _client(generated, ThroughTheWorld(world.transport)) as relay:
        identity = relay.default.relay_info()
        assert isinstance(identity, models.RelayIdentity) and isinstance(identity.limits, models.RelayLimits)
        assert identity.name == world.relay.name and identity.limits.max_page_events > 0
        assert relay.default.healthz().status == "ok"
        ready = relay.default.readyz()
        assert isinstance(ready, models.Readiness) and ready.status == "ready", ready
        assert isinstance(relay.default.public_statements(), models.PublicStatements)
        with pytest.raises(generated.errors.NotFoundError) as refused:
            relay.default.public_agreement(agreement_id="no-such-agreement")
        assert isinstance(refused.value.body, models.ErrorBody) and refused.value.body.error == "not_found"
        # a signed route refuses the unsigned request, in the declared error shape
        with pytest.raises(generated.errors.AuthenticationError) as unsigned:
            relay.default.my_negotiations()
        assert isinstance(unsigned.value.body, models.ErrorBody)


def test_signed_reads_of_a_negotiation_decode_into_the_generated_models(generated, world) -> None:  # noqa: ANN001
    models = generated.models
    ukraine, russia = world.party("Ukraine"), world.party("Russian Federation")
    nid = world.negotiation(ukraine, russia)
    Negotiation(ukraine, nid).client.send_message(nid, "shapes")
    with _client(generated, ThroughTheWorld(world.transport), ukraine.conn.key) as relay:
        page = relay.default.list_events(negotiation_id=nid, consistency_from=1)
        assert isinstance(page, models.EventPage) and page.size == len(page.events) >= 4
        assert page.consistency_proof is not None
        kinds = [listed.event.header.public.root.type if listed.event.header.public else "encrypted"
                 for listed in page.events if isinstance(listed, models.ListedEvent)]
        assert {"negotiation.genesis", "party.invite", "party.join", "encrypted"} <= set(kinds), kinds
        checkpoint = relay.default.checkpoint(negotiation_id=nid)
        assert isinstance(checkpoint, models.Checkpoint) and checkpoint.size == page.size
        proof = relay.default.inclusion(negotiation_id=nid, index=0, size=page.size)
        assert isinstance(proof, models.InclusionProof) and proof.proof
        mine = relay.default.my_negotiations()
        assert [summary.negotiation_id for summary in mine.negotiations] == [nid]
        party = relay.default.get_party(party_id=ukraine.profile.party.party_id)
        assert isinstance(party, models.PartyEntry) and party.devices
        assert isinstance(relay.default.access_log(negotiation_id=nid), models.AccessLog)


def test_a_recorded_listing_parses_into_the_generated_page_with_every_field_typed(generated, world,  # noqa: ANN001
                                                                                 monkeypatch) -> None:  # noqa: ANN001
    models = generated.models
    written: list[bytes] = []
    real_make_body = sdk.make_body

    def recording(event_type: str, content: Any, header: Any) -> bytes:  # noqa: ANN401
        plaintext = real_make_body(event_type, content, header)
        written.append(plaintext)
        return plaintext

    monkeypatch.setattr(sdk, "make_body", recording)
    listings = [response for method, path, response in answers_of_a_session(world)
                if method == "GET" and path.endswith("/events") and response.status_code == 200]
    page = models.EventPage.model_validate_json(max(listings, key=lambda r: len(r.json()["events"])).content)
    assert len(page.events) >= 4
    for listed in page.events:
        if isinstance(listed, models.HiddenListedEvent):  # an event of the session for another party only
            assert isinstance(listed.hidden, models.HiddenEntry) and listed.hidden.tags
            continue
        header = listed.event.header
        assert isinstance(header, models.EventHeader | models.EventHeaderV1)
        assert isinstance(header.audience, models.HeaderAudience)
        assert (header.tags is not None) == (header.public is None) if isinstance(header, models.EventHeader) \
            else header.public is not None
        assert all(isinstance(ref, models.HeaderCiphertext) for ref in header.ciphertexts)
        assert header.checkpoint is None or isinstance(header.checkpoint, models.HeaderCheckpoint)
        if header.public is not None:
            assert isinstance(header.public, models.PublicEvent)
            assert type(header.public.root).__name__ == "Public" + "".join(
                part.capitalize() for part in header.public.root.type.replace("-", ".").split("."))
    assert _untyped(page) <= SIGNED_OBJECTS, _untyped(page) - SIGNED_OBJECTS
    # what a member finds in a ciphertext reads into the generated bodies too
    bodies = [models.EncryptedBody.model_validate_json(plaintext) for plaintext in written]
    assert {type(body.root).__name__ for body in bodies} >= {"BodyMessage"}


#: the recorded answers of the directory, the access log and the public pages, by path's end, and their models
RECORDED_ANSWERS = {"/v1/parties": "Parties", "/access-log": "AccessLog", "/public/statements": "PublicStatements"}


def test_recorded_directory_and_access_log_answers_parse_with_every_field_typed(generated,  # noqa: ANN001
                                                                                world) -> None:  # noqa: ANN001
    models = generated.models
    read: dict[str, Any] = {}
    for method, path, response in answers_of_a_session(world):
        if method != "GET" or response.status_code != 200:
            continue
        name = "PartyEntry" if path.startswith("/v1/parties/") else next(
            (model for end, model in RECORDED_ANSWERS.items() if path.endswith(end)), None)
        if name is not None:
            read[name] = getattr(models, name).model_validate_json(response.content)
    assert set(read) == {"Parties", "PartyEntry", "AccessLog", "PublicStatements"}, set(read)
    assert read["Parties"].parties and all(isinstance(p, models.PartyRecord) for p in read["Parties"].parties)
    entry = read["PartyEntry"]
    assert isinstance(entry.party, models.PartyRecord) and entry.devices
    assert all(isinstance(device.certificate, models.MemberCertificate) for device in entry.devices)
    assert read["AccessLog"].entries and all(isinstance(e, models.AccessLogEntry) for e in read["AccessLog"].entries)
    for name, value in read.items():
        assert _untyped(value) <= SIGNED_OBJECTS, (name, _untyped(value) - SIGNED_OBJECTS)


def _untyped(value: Any, path: str = "") -> set[str]:  # noqa: ANN401
    """The paths in a generated model's value that are plain JSON objects, not generated models."""
    if isinstance(value, BaseModel):
        if hasattr(value, "root"):
            return _untyped(value.root, path)
        return {found for name in type(value).model_fields
                for found in _untyped(getattr(value, name), f"{path}.{name}".lstrip("."))}
    if isinstance(value, list):
        return {found for item in value for found in _untyped(item, f"{path}[]")}
    if isinstance(value, dict):
        return {path}
    return set()


def test_an_answer_off_the_description_is_refused(generated) -> None:  # noqa: ANN001
    """The generated models check what they read: a relay answering off its description is caught."""
    forged = httpx2.MockTransport(lambda request: httpx2.Response(200, json={"name": 1}))
    with _client(generated, forged) as relay, pytest.raises(generated.errors.SDKError):
        relay.default.relay_info()
    page = {"negotiation_id": "n", "size": 1, "checkpoint": "c", "consistency_proof": None, "events": [{
        "seq": 0, "received_at": "2026-01-01T00:00:00Z", "event": {"signature": "s", "ciphertexts": [], "header": {
            "v": 1, "negotiation": "n", "author": "ab" * 16, "created": "2026-01-01T00:00:00Z", "prev": None,
            "nonce": "AAAAAAAAAAAAAAAAAAAAAA==", "audience": {"parties": ["p"], "roles": None},
            "authority": "member", "ciphertexts": [], "checkpoint": None,
            "public": {"type": "negotiation.genesis", "content": {"party": {}, "certificates": []}}}}}]}
    with pytest.raises(ValueError, match="certificates"):  # the genesis declares at least one certificate
        generated.models.EventPage.model_validate(page)
    page["events"][0]["event"]["header"]["public"] = {"type": "party.unknown", "content": {}}
    with pytest.raises(ValueError, match="party.unknown"):
        generated.models.EventPage.model_validate(page)
    assert Path(generated.models.__file__).is_file()
