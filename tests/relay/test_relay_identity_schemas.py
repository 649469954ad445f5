"""The directory's signed objects as the OpenAPI description declares them (``parley.relay.schemas.PartyRecord``,
``MemberCertificate``, ``Revocation``, ``RootRotation``) and as the protocol reads them
(``parley.protocol.identity``: ``from_obj``, then the verification the relay applies): both read every real
object the same way and both refuse the same broken ones, so the description cannot drift from the parser.

Each broken object names the error the protocol gives: ``InputError`` where its form check refuses it,
``TrustError`` where only the verification does (a party id or key id that is not the id of the key it must be,
a signature not of the right length: any change to a signed field breaks the signature). The declaration has to
refuse both kinds by form alone. What stays the protocol's only: the party id derived from the root key, an
age recipient's checksum, a non-empty validity window, a linked certificate inside its certifier's window and at
most ``MAX_LINK_DEPTH`` deep, and every signature. A whole number written as ``2.0`` is an integer to JSON
Schema (not to the parser nor to the pydantic model), so that case is left out of the served schema's checks.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jsonschema_rs
import pytest
from pydantic import BaseModel, ValidationError
from sdk_session import answers_of_a_session

from parley.client.devices import finish_link, link_device, request_link
from parley.crypto.keys import EncryptionKey, SigningKey
from parley.errors import InputError, TrustError
from parley.protocol import identity
from parley.protocol.public_bodies import decode_public
from parley.relay import schemas

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
#: each declaration, the protocol's type of the same object
DECLARED: dict[type[BaseModel], type] = {
    schemas.PartyRecord: identity.PartyRecord, schemas.MemberCertificate: identity.MemberCertificate,
    schemas.Revocation: identity.Revocation, schemas.RootRotation: identity.RootRotation}


class Objects:
    """Real signed objects of each kind, and what the protocol checks each against."""

    def __init__(self) -> None:
        self.of: dict[type[BaseModel], list[dict[str, Any]]] = {model: [] for model in DECLARED}
        self.root_of_party: dict[str, str] = {}
        #: device key id -> certificate (a device revocation is checked against the revoker's and the target's)
        self.certificates: dict[str, identity.MemberCertificate] = {}

    def add(self, model: type[BaseModel], obj: dict[str, Any]) -> None:
        if obj not in self.of[model]:
            self.of[model].append(obj)
        if model is schemas.PartyRecord:
            self.root_of_party[obj["party_id"]] = obj["root_key"]
        if model is schemas.MemberCertificate:
            certificate = identity.MemberCertificate.from_obj(obj)
            self.certificates[certificate.device_key_id] = certificate

    def check(self, model: type[BaseModel], obj: Any) -> None:  # noqa: ANN401
        """What the protocol does with an object of ``model``'s kind that a relay receives.

        Raises:
            InputError: malformed.  TrustError: it fails its verification.
        """
        if model is schemas.PartyRecord:
            identity.PartyRecord.from_obj(obj)
        elif model is schemas.MemberCertificate:
            certificate = identity.MemberCertificate.from_obj(obj)
            root_key = self.root_of_party.get(certificate.party_id)
            if root_key is None:
                raise TrustError("no party of that id")
            identity.verify_certificate(certificate, root_key)
        elif model is schemas.Revocation:
            revocation = identity.Revocation.from_obj(obj)
            if revocation.by is None:
                root_key = self.root_of_party.get(revocation.party_id)
                if root_key is None:
                    raise TrustError("no party of that id")
                identity.verify_revocation(revocation, root_key)
            else:
                revoker, target = (self.certificates.get(revocation.by),
                                   self.certificates.get(revocation.device_key_id))
                if revoker is None or target is None:
                    raise TrustError("no such device")
                identity.verify_device_revocation(revocation, revoker, target)
        else:
            rotation = identity.RootRotation.from_obj(obj)
            root_key = self.root_of_party.get(rotation.party_id)
            if root_key is None:
                raise TrustError("no party of that id")
            identity.verify_rotation(rotation, rotation.party_id, root_key)


@pytest.fixture
def real_objects(world) -> tuple[dict[str, Any], Objects]:  # noqa: ANN001
    """The served description; the party records and certificates a recorded SDK session received (directory
    answers and the public events of a log), a party's directory entry after it removed a member and rotated
    its root (its revocation and rotation), and a linked device and a device's revocation of it made by the
    protocol's own issuers."""
    objects = Objects()
    for method, path, response in answers_of_a_session(world):
        if method != "GET" or response.status_code != 200:
            continue
        answer = response.json()
        if path == "/v1/parties":
            for record in answer["parties"]:
                objects.add(schemas.PartyRecord, record)
        elif path.startswith("/v1/parties/"):
            objects.add(schemas.PartyRecord, answer["party"])
            for device in answer["devices"]:
                objects.add(schemas.MemberCertificate, device["certificate"])
        elif path.endswith("/events"):
            for listed in answer["events"]:
                public = listed.get("event", {}).get("header", {}).get("public")
                if public is None:
                    continue
                content = public["content"]
                if "party" in content:
                    objects.add(schemas.PartyRecord, content["party"])
                for certificate in content.get("certificates", []):
                    objects.add(schemas.MemberCertificate, certificate)
    assert len(objects.of[schemas.PartyRecord]) >= 2 and len(objects.of[schemas.MemberCertificate]) >= 2
    # a party that removes a member, then rotates its root: its directory entry holds both
    moldova = world.party("Republic of Moldova")
    moldova.remove_member(world.member(moldova, "Legal expert", "expert").identity.device_key_id)
    moldova.rotate_root()
    with httpx.Client(transport=world.transport, base_url="http://relay") as http:
        document = http.get("/openapi.json").json()
        entry = moldova.conn.get(f"/v1/parties/{moldova.profile.party.party_id}")
    objects.add(schemas.PartyRecord, entry["party"])
    for device in entry["devices"]:
        objects.add(schemas.MemberCertificate, device["certificate"])
        if device["revocation"] is not None:
            objects.add(schemas.Revocation, device["revocation"])
    for rotation in entry["rotations"]:
        objects.add(schemas.RootRotation, rotation)
    assert objects.of[schemas.Revocation] and objects.of[schemas.RootRotation]
    _issue(objects)
    return document, objects


def _issue(objects: Objects) -> None:
    root, device, linked, new_root = (SigningKey.generate() for _ in range(4))
    record = identity.PartyRecord.create(root, "Georgia")
    objects.add(schemas.PartyRecord, record.to_obj())
    head = identity.MemberCertificate.issue(
        root, member="Head of delegation", role="head", signing_key=device.public_b64,
        encryption_key=EncryptionKey.generate().recipient, not_before=NOW - timedelta(days=1),
        not_after=NOW + timedelta(days=365), max_devices=3)
    phone = identity.MemberCertificate.link(device, head, signing_key=linked.public_b64,
                                            encryption_key=EncryptionKey.generate().recipient, not_before=NOW,
                                            not_after=NOW + timedelta(days=30))
    for certificate in (head, phone):
        objects.add(schemas.MemberCertificate, certificate.to_obj())
    objects.add(schemas.Revocation, identity.Revocation.issue(root, phone.device_key_id, NOW).to_obj())
    objects.add(schemas.Revocation, identity.Revocation.issue_by_device(device, head, phone.device_key_id,
                                                                        NOW).to_obj())
    objects.add(schemas.RootRotation, identity.RootRotation.issue(record.party_id, root, new_root, NOW).to_obj())


def _served(document: dict[str, Any], model: type[BaseModel]) -> jsonschema_rs.Draft202012Validator:
    return jsonschema_rs.Draft202012Validator({"$ref": f"#/components/schemas/{model.__name__}",
                                               "components": document["components"]})


def test_the_declarations_name_the_parsers_fields(real_objects) -> None:  # noqa: ANN001
    _, objects = real_objects
    for model in DECLARED:
        fields = {name for obj in objects.of[model] for name in obj}
        assert set(model.model_fields) == fields, model
        required = {name for name, field in model.model_fields.items() if field.is_required()}
        assert required == set.intersection(*(set(obj) for obj in objects.of[model])), model
    assert schemas.SIGNED_OBJECTS == {
        identity.PARTY_RECORD_TYPE: schemas.PartyRecord, identity.CERTIFICATE_TYPE: schemas.MemberCertificate,
        identity.REVOCATION_TYPE: schemas.Revocation, identity.ROTATION_TYPE: schemas.RootRotation}


def test_real_objects_read_alike(real_objects) -> None:  # noqa: ANN001
    document, objects = real_objects
    assert {model: len(found) for model, found in objects.of.items()} == {
        schemas.PartyRecord: 4, schemas.MemberCertificate: 6, schemas.Revocation: 3, schemas.RootRotation: 2}
    assert any("linked_by" in obj for obj in objects.of[schemas.MemberCertificate])
    assert any("by" in obj for obj in objects.of[schemas.Revocation])
    for model, protocol_type in DECLARED.items():
        served = _served(document, model)
        for obj in objects.of[model]:
            objects.check(model, obj)
            declared = model.model_validate(obj)
            assert declared.model_dump(mode="json", exclude_unset=True) == protocol_type.from_obj(obj).to_obj() == obj
            served.validate(obj)


def _cases(model: type[BaseModel], obj: dict[str, Any],
           changes: list[tuple[str, type[Exception], Any]]) -> list[tuple[str, type, Any]]:
    """(what, the protocol's error, the broken object) for each change of ``obj``, each required field dropped
    and an unknown field added (an optional field dropped is a form both accept: its signature refuses it)."""
    required = [name for name, field in model.model_fields.items() if field.is_required()]
    cases = []
    for what, error, change in [*((f"no {name}", InputError, lambda o, name=name: o.pop(name)) for name in required),
                                ("an unknown field", InputError, lambda o: o.update(extra=1)),
                                ("another type", InputError, lambda o: o.update(type="parley.other.v1")),
                                *changes]:
        broken = copy.deepcopy(obj)
        change(broken)
        cases.append((what, error, broken))
    return cases


def _text_cases(name: str) -> list[tuple[str, type[Exception], Any]]:
    return [(f"an empty {name}", InputError, lambda o: o.update({name: ""})),
            (f"a {name} of 201 characters", InputError, lambda o: o.update({name: "x" * 201})),
            (f"a {name} with a newline", InputError, lambda o: o.update({name: "a\nb"})),
            (f"a {name} not text", InputError, lambda o: o.update({name: 1}))]


NOT_HEX = "X" * 32
SHORT_SIGNATURE = "AAAA"
A_KEY_NOT_BASE64 = "not a key" + "=" * 35


def _broken(objects: Objects) -> list[tuple[type[BaseModel], str, type[Exception], Any]]:
    record = objects.of[schemas.PartyRecord][0]
    root_issued = next(o for o in objects.of[schemas.MemberCertificate] if "max_devices" in o)
    linked = next(o for o in objects.of[schemas.MemberCertificate] if "linked_by" in o)
    by_root = next(o for o in objects.of[schemas.Revocation] if "by" not in o)
    by_device = next(o for o in objects.of[schemas.Revocation] if "by" in o)
    rotation = objects.of[schemas.RootRotation][0]
    cases: list[tuple[type[BaseModel], str, type[Exception], Any]] = []
    for what, error, broken in _cases(schemas.PartyRecord, record, [
            ("a party id not hex", TrustError, lambda o: o.update(party_id=NOT_HEX)),
            ("a root key not base64", InputError, lambda o: o.update(root_key=A_KEY_NOT_BASE64)),
            ("a root key of 16 bytes", InputError, lambda o: o.update(root_key="A" * 22 + "==")),
            ("a short signature", TrustError, lambda o: o.update(signature=SHORT_SIGNATURE)),
            *_text_cases("name")]):
        cases.append((schemas.PartyRecord, what, error, broken))
    certificate_changes = [
        ("a party id not hex", TrustError, lambda o: o.update(party_id=NOT_HEX)),
        ("an unknown role", InputError, lambda o: o.update(role="king")),
        ("a signing key not base64", InputError, lambda o: o.update(signing_key=A_KEY_NOT_BASE64)),
        ("a signing key in non-canonical base64", InputError,
         lambda o: o.update(signing_key=o["signing_key"][:42] + "B=")),
        ("an encryption key not age", InputError, lambda o: o.update(encryption_key="ssh-ed25519 AAAA")),
        ("an encryption key in capitals", InputError, lambda o: o.update(encryption_key=o["encryption_key"].upper())),
        ("a time with an offset", InputError, lambda o: o.update(not_after=o["not_after"].replace("Z", "+00:00"))),
        ("a date only", InputError, lambda o: o.update(not_before=o["not_before"][:10])),
        ("a short signature", TrustError, lambda o: o.update(signature=SHORT_SIGNATURE)),
        *_text_cases("member")]
    for what, error, broken in _cases(schemas.MemberCertificate, root_issued, [
            *certificate_changes,
            ("no devices allowed", InputError, lambda o: o.update(max_devices=0)),
            ("65 devices", InputError, lambda o: o.update(max_devices=65)),
            ("a device count as text", InputError, lambda o: o.update(max_devices="2")),
            ("a device count true", InputError, lambda o: o.update(max_devices=True)),
            ("a device count null", InputError, lambda o: o.update(max_devices=None))]):
        cases.append((schemas.MemberCertificate, what, error, broken))
    for what, error, broken in _cases(schemas.MemberCertificate, linked, [
            ("a linked_by null", InputError, lambda o: o.update(linked_by=None)),
            ("a linked_by empty", InputError, lambda o: o.update(linked_by={})),
            ("a linking certificate with a field more", InputError, lambda o: o["linked_by"].update(extra=1)),
            ("a linking certificate of an unknown role", InputError, lambda o: o["linked_by"].update(role="king"))]):
        cases.append((schemas.MemberCertificate, what, error, broken))
    revocation_changes = [
        ("a party id not hex", TrustError, lambda o: o.update(party_id=NOT_HEX)),
        ("a device key id not hex", TrustError, lambda o: o.update(device_key_id=NOT_HEX)),
        ("a time with an offset", InputError, lambda o: o.update(revoked_at=o["revoked_at"].replace("Z", "+00:00"))),
        ("a short signature", TrustError, lambda o: o.update(signature=SHORT_SIGNATURE)),
        *_text_cases("reason")]
    for what, error, broken in _cases(schemas.Revocation, by_root, revocation_changes):
        cases.append((schemas.Revocation, what, error, broken))
    for what, error, broken in _cases(schemas.Revocation, by_device, [
            ("a revoker not hex", TrustError, lambda o: o.update(by=NOT_HEX)),
            ("a revoker null", InputError, lambda o: o.update(by=None))]):
        cases.append((schemas.Revocation, what, error, broken))
    for what, error, broken in _cases(schemas.RootRotation, rotation, [
            ("a party id not hex", TrustError, lambda o: o.update(party_id=NOT_HEX)),
            ("an old root key not base64", InputError, lambda o: o.update(old_root_key=A_KEY_NOT_BASE64)),
            ("a new root key of 16 bytes", InputError, lambda o: o.update(new_root_key="A" * 22 + "==")),
            ("a date only", InputError, lambda o: o.update(rotated_at=o["rotated_at"][:10])),
            ("a short old signature", TrustError, lambda o: o.update(old_signature=SHORT_SIGNATURE)),
            ("a new signature not text", InputError, lambda o: o.update(new_signature=1))]):
        cases.append((schemas.RootRotation, what, error, broken))
    return cases


def test_both_refuse_the_same_broken_objects(real_objects) -> None:  # noqa: ANN001
    document, objects = real_objects
    cases = _broken(objects)
    assert len(cases) > 80, len(cases)
    served = {model: _served(document, model) for model in DECLARED}
    for model, what, error, broken in cases:
        with pytest.raises(error):
            objects.check(model, broken)
        with pytest.raises(ValidationError):
            model.model_validate(broken)
        assert not served[model].is_valid(broken), (model.__name__, what)


def test_the_public_events_signed_objects_are_served_as_the_declarations(real_objects) -> None:  # noqa: ANN001
    """A genesis or a join carries its signed objects as plain objects for ``decode_public``; the served schema
    of its content refers to the declarations, so a generated client reads them typed."""
    document, objects = real_objects
    content = {"party": objects.of[schemas.PartyRecord][0], "certificates": objects.of[schemas.MemberCertificate],
               "rotations": objects.of[schemas.RootRotation]}
    genesis = jsonschema_rs.Draft202012Validator({"$ref": "#/components/schemas/PublicNegotiationGenesis",
                                                  "components": document["components"]})
    decode_public("negotiation.genesis", content)
    genesis.validate({"type": "negotiation.genesis", "content": content})
    broken = {**content, "party": {**content["party"], "signature": SHORT_SIGNATURE}}
    decode_public("negotiation.genesis", broken)  # a plain object to the cleartext check: identity refuses it
    with pytest.raises(TrustError):
        identity.PartyRecord.from_obj(broken["party"])
    assert not genesis.is_valid({"type": "negotiation.genesis", "content": broken})
    properties = document["components"]["schemas"]["PublicContentGenesis"]["properties"]
    assert properties["party"] == {"$ref": "#/components/schemas/PartyRecord"}
    assert properties["certificates"]["items"] == {"$ref": "#/components/schemas/MemberCertificate"}
    kinds = document["components"]["schemas"]
    assert kinds["PublicContentMemberRemove"]["properties"]["revocation"] == {
        "$ref": "#/components/schemas/Revocation"}
    assert kinds["PublicContentRootRotate"]["properties"]["rotation"] == {"$ref": "#/components/schemas/RootRotation"}


def test_a_public_statement_and_a_publication_read_as_their_declarations(world) -> None:  # noqa: ANN001
    """The public pages serve the content of ``statement.public`` and ``agreement.publication`` events: their
    models take it from ``parley.protocol.public_bodies`` (its constraints, its decoder), not a second copy."""
    ukraine, russia = world.party("Ukraine"), world.party("Russian Federation")
    nid = world.negotiation(ukraine, russia)
    ukraine.public_statement(nid, "The parties met in Istanbul.")
    with httpx.Client(transport=world.transport, base_url="http://relay") as http:
        document = http.get("/openapi.json").json()
        served_statements = http.get("/public/statements").json()
    statements = jsonschema_rs.Draft202012Validator({"$ref": "#/components/schemas/PublicStatements",
                                                     "components": document["components"]})
    statements.validate(served_statements)
    [entry] = schemas.PublicStatements.model_validate(served_statements).statements
    assert (entry.negotiation_id, entry.text) == (nid, "The parties met in Istanbul.")
    entry = entry.model_dump()
    decode_public("statement.public", {"text": entry["text"]})
    for broken in ({**entry, "text": " \n"}, {**entry, "text": "x" * 1_000_001}):
        with pytest.raises(InputError):
            decode_public("statement.public", {"text": broken["text"]})
        with pytest.raises(ValidationError):
            schemas.PublicStatementEntry.model_validate(broken)
        assert not statements.is_valid({"statements": [broken]})
    agreement = jsonschema_rs.Draft202012Validator({"$ref": "#/components/schemas/ReleasedAgreement",
                                                    "components": document["components"]})
    publication = {"agreement_id": "a", "title": "t", "text": "x", "signatures": {}, "consents": {}, "version": 1,
                   "document": "d"}
    released = {"agreement": publication, "negotiation_id": "n", "seq": 9, "checkpoint": "c",
                "inclusion_proof": [], "relay_vkey": "v"}
    decode_public("agreement.publication", publication)
    schemas.ReleasedAgreement.model_validate(released)
    agreement.validate(released)
    for broken in ({k: v for k, v in publication.items() if k != "version"}, {**publication, "text": ""}):
        with pytest.raises(InputError):
            decode_public("agreement.publication", broken)
        with pytest.raises(ValidationError):
            schemas.ReleasedAgreement.model_validate({**released, "agreement": broken})
        assert not agreement.is_valid({**released, "agreement": broken})


class Recording(httpx.BaseTransport):
    """Every (method, path, request body, answer) through ``inner``."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner, self.exchanges = inner, []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        response.read()
        self.exchanges.append((request.method, request.url.path, json.loads(request.read() or b"null"), response))
        return response


def test_a_device_links_exchange_reads_as_the_declared_link_messages(world, tmp_path) -> None:  # noqa: ANN001
    """A real device link (the new device's request, the holder's answer) through the relay: every message the
    clients write is of the declared shapes, and the relay's answers are the declared ``LinkMessage``."""
    holder = world.party("Ukraine")
    recording = Recording(world.transport)
    holder.conn.http._transport = recording
    pending = request_link(tmp_path / "phone", "http://relay", label="phone", passphrase=None, transport=recording)
    link_device(holder, pending.code)
    world.clients.append(finish_link(pending, passphrase=None, transport=recording, clock=world.clock))
    holder.conn.http._transport = world.transport
    with httpx.Client(transport=world.transport, base_url="http://relay") as http:
        document = http.get("/openapi.json").json()
    bodies = {"LinkRequest": ("/link/{slot}", "post"), "LinkAnswer": ("/v1/links/{slot}/answer", "post")}
    served = {name: jsonschema_rs.Draft202012Validator({
        **document["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"],
        "components": document["components"]}) for name, (path, method) in bodies.items()}
    served["LinkMessage"] = jsonschema_rs.Draft202012Validator({"$ref": "#/components/schemas/LinkMessage",
                                                                "components": document["components"]})
    links = [(method, path, body, response) for method, path, body, response in recording.exchanges if "link" in path]
    assert [(method, response.status_code) for method, _, _, response in links] == [
        ("POST", 201), ("GET", 200), ("POST", 201), ("GET", 200)]
    for method, _, body, response in links:
        if method == "POST":
            name = "LinkRequest" if "request" in body else "LinkAnswer"
            getattr(schemas, name).model_validate(body)
            served[name].validate(body)
        schemas.LinkMessage.model_validate_json(response.content)
        served["LinkMessage"].validate(response.json())
    request, answer = links[0][2]["request"], links[2][2]["answer"]
    assert set(request) == {"signing_key", "encryption_key", "mac"} and set(answer) == {"blob", "mac"}


@pytest.mark.parametrize(("what", "change"), [
    ("no mac", lambda m: m.pop("mac")),
    ("a field more", lambda m: m.update(label="phone")),
    ("a signing key not base64", lambda m: m.update(signing_key=A_KEY_NOT_BASE64)),
    ("an encryption key not age", lambda m: m.update(encryption_key="ssh-ed25519 AAAA")),
    ("a mac not hex", lambda m: m.update(mac="M" * 64)),
    ("a list", lambda m: m.clear()),
])
def test_the_relay_refuses_a_link_request_off_its_declaration(world, what, change) -> None:  # noqa: ANN001
    message = {"signing_key": SigningKey.generate().public_b64, "encryption_key": EncryptionKey.generate().recipient,
               "mac": "ab" * 32}
    change(message)
    body = {"request": message or ["not", "an", "object"]}
    with httpx.Client(transport=world.transport, base_url="http://relay") as http:
        answer = http.post(f"/link/{'cd' * 32}", json=body)
    assert answer.status_code == 400, (what, answer.text)
    with pytest.raises(ValidationError):
        schemas.LinkRequest.model_validate(body)
