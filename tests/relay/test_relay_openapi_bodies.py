"""A client generated from ``/openapi.json`` works: the document is valid OpenAPI 3.1, the relay's real answers
validate against it (schemathesis reads the document as a generated client would), and every body a parley
client encrypts validates against the body schema the document serves for its type (``EncryptedBody``)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import jsonschema_rs
import pytest
import schemathesis
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate as validate_openapi
from schemathesis.core.failures import FailureGroup
from sdk_session import answers_of_a_session

import parley.client.sdk as sdk
from parley.client.workflow import Negotiation
from parley.errors import InputError
from parley.protocol.bodies import MODELS
from parley.protocol.identity import MemberCertificate
from parley.protocol.public_bodies import PUBLIC_MODELS, decode_public
from parley.protocol.record_bodies import RECORD_MODELS, TracingRecord, decode_record
from parley.relay.openapi_bodies import ENCRYPTED_BODY, PUBLIC_EVENT, body_component_name


def _document(world) -> dict[str, Any]:  # noqa: ANN001
    with httpx.Client(transport=world.transport, base_url="http://relay") as http:
        return http.get("/openapi.json").json()


def _within(document: dict[str, Any], component: str) -> dict[str, Any]:
    """A schema for one component, its references resolved in the served document's components."""
    return {"$ref": f"#/components/schemas/{component}", "components": document["components"]}


def _validator(document: dict[str, Any], component: str) -> OAS31Validator:
    """The OpenAPI 3.1 dialect's validator (``openapi-schema-validator``) for one component."""
    return OAS31Validator(_within(document, component))


@pytest.fixture
def written_bodies(world, monkeypatch) -> tuple[dict[str, Any], list[dict[str, Any]]]:  # noqa: ANN001
    """The served document and the plaintext of every ciphertext the clients wrote in a negotiation's usual
    steps (recorded where the client builds it, just before it is encrypted)."""
    written: list[dict[str, Any]] = []
    real_make_body = sdk.make_body

    def recording(event_type: str, content: Any, header: Any) -> bytes:
        plaintext = real_make_body(event_type, content, header)
        written.append(json.loads(plaintext))
        return plaintext

    monkeypatch.setattr(sdk, "make_body", recording)
    ukraine, russia = world.party("Ukraine"), world.party("Russian Federation")
    nid = world.negotiation(ukraine, russia)
    ua, ru = Negotiation(ukraine, nid), Negotiation(russia, nid)
    ru_id, ua_id = ua.party_id("Russian Federation"), ru.party_id("Ukraine")
    ua.set_title("Talks on the exchange of prisoners")
    issue = ua.add_issue("Exchange of prisoners", "prisoners")
    ua.rename_issue(issue, "Exchange of all prisoners")
    memo = ua.deliver_memorandum("Positions of Ukraine", {issue: "All for all."}, to=[ru_id],
                                 restricted={issue: "Fallback: the wounded first."})
    ru.sync()
    ru.respond(memo, {issue: {"stance": "counter", "text": "The wounded first."}}, "Our official response.")
    ru.comment(memo, "A question on the lists.")
    start = ru.client.clock() + timedelta(days=4)
    meeting = ru.propose_meeting(venue="Istanbul", start=start, end=start + timedelta(hours=6),
                                 timezone="Europe/Istanbul", level="delegation", parties=[ua_id])
    ua.sync()
    ua.answer_meeting(meeting, "accept")
    round_id = ua.open_round(1, meeting_id=meeting, agenda=[issue])
    ua.link_to_round(round_id, "memorandum", memo)
    channel = ua.open_channel("Back channel", [ru_id])
    ua.channel_message(channel, "A word before the round.")
    ua.close_round(round_id, "Lists to be exchanged.")
    ua.close_issue(issue)
    ua.sync()
    return _document(world), written


def test_the_served_description_is_valid_openapi(world) -> None:  # noqa: ANN001
    document = _document(world)
    validate_openapi(document)
    schemas = document["components"]["schemas"]
    mapping = schemas[ENCRYPTED_BODY]["discriminator"]["mapping"]
    assert mapping["memorandum.deliver"] == "#/components/schemas/BodyMemorandumDeliver"
    assert [one["$ref"] for one in schemas[ENCRYPTED_BODY]["oneOf"]] == list(mapping.values())
    dangling = [ref for ref in _refs(document) if ref.rsplit("/", 1)[-1] not in schemas]
    assert not dangling, dangling


def test_the_cleartext_and_record_bodies_are_served_from_their_declarations(world) -> None:  # noqa: ANN001
    schemas = _document(world)["components"]["schemas"]
    public = schemas[PUBLIC_EVENT]["discriminator"]["mapping"]
    assert set(public) == set(PUBLIC_MODELS)
    assert public["negotiation.genesis"] == "#/components/schemas/PublicNegotiationGenesis"
    assert [one["$ref"] for one in schemas[PUBLIC_EVENT]["oneOf"]] == list(public.values())
    assert {"$ref": f"#/components/schemas/{PUBLIC_EVENT}"} in schemas["EventHeader"]["properties"]["public"]["anyOf"]
    encrypted = schemas[ENCRYPTED_BODY]["discriminator"]["mapping"]
    assert set(encrypted) == set(MODELS) | {"history.grant", "tracing.secret"}
    assert {"history.grant", "history.grant/item", "tracing.secret"} == set(RECORD_MODELS)
    assert {"RecordContentHistoryGrant", "RecordContentGrantedEvent", "RecordContentTracingRecord"} <= set(schemas)


def test_the_served_cleartext_and_record_schemas_accept_and_refuse_as_the_declarations_do(world) -> None:  # noqa: ANN001
    document = _document(world)
    public = jsonschema_rs.Draft202012Validator(_within(document, PUBLIC_EVENT))
    for event_type, content in (("party.leave", {}), ("statement.public", {"text": "We agree."})):
        decode_public(event_type, content)
        public.validate({"type": event_type, "content": content})
    # a signed object is only an object to the cleartext declarations (parley.protocol.identity checks it when the
    # event is applied): the served schema refers to the relay's declaration of it, which refuses an empty one
    for event_type, content in (("member.add", {"certificate": {}}), ("party.join", {"certificates": [{}]})):
        decode_public(event_type, content)
        with pytest.raises(InputError):
            MemberCertificate.from_obj({})
        assert not public.is_valid({"type": event_type, "content": content}), (event_type, content)
    for event_type, content in (("negotiation.genesis", {"party": {}, "certificates": [{}], "extra": 1}),
                                ("negotiation.genesis", {"party": {}, "certificates": []}),
                                ("party.invite", {}), ("statement.public", {"text": " \n"}),
                                ("agreement.publication", {"agreement_id": "a", "title": "t", "text": "x",
                                                           "signatures": {}, "consents": {}}),
                                ("party.unknown", {})):
        with pytest.raises(InputError):
            decode_public(event_type, content)
        assert not public.is_valid({"type": event_type, "content": content}), (event_type, content)
    encrypted = jsonschema_rs.Draft202012Validator(_within(document, ENCRYPTED_BODY))
    record = {"document_id": "d", "secret": "{}", "recipients": {}, "version": 2}
    decode_record(TracingRecord, record)
    encrypted.validate({"type": "tracing.secret", "content": record, "binding": "0" * 64})
    for broken in ({k: v for k, v in record.items() if k != "secret"}, {**record, "version": "2"}):
        with pytest.raises(InputError):
            decode_record(TracingRecord, broken)
        assert not encrypted.is_valid({"type": "tracing.secret", "content": broken, "binding": "0" * 64})


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [*([node["$ref"]] if isinstance(node.get("$ref"), str) else []),
                *(ref for value in node.values() for ref in _refs(value))]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


def test_every_body_a_client_writes_matches_the_served_schema_of_its_type(written_bodies) -> None:  # noqa: ANN001
    document, written = written_bodies
    kinds = {body["type"] for body in written}
    assert {"negotiation.title", "agenda.issue.add", "agenda.issue.rename", "agenda.issue.close",
            "memorandum.deliver", "receipt", "response.official", "comment",
            "meeting.propose", "meeting.respond", "round.open", "round.link", "round.close", "channel.open",
            "channel.message"} <= kinds, kinds
    any_body = _validator(document, ENCRYPTED_BODY)
    by_kind = {kind: _validator(document, body_component_name(kind)) for kind in kinds}
    # a second validator reads patterns as ECMA-262 regular expressions, as JSON Schema says and clients in
    # other languages do (Python's "\Z" is not one: it refuses such a schema outright)
    ecma = jsonschema_rs.Draft202012Validator(_within(document, ENCRYPTED_BODY))
    for body in written:
        by_kind[body["type"]].validate(body)
        any_body.validate(body)
        ecma.validate(body)


def test_a_body_against_its_declaration_fails_the_served_schema(written_bodies) -> None:  # noqa: ANN001
    """The served schemas are the declarations, not a permissive stand-in: what the client would refuse, a
    generated client's validator refuses too."""
    document, written = written_bodies
    issue = next(body for body in written if body["type"] == "agenda.issue.add")
    any_body = _validator(document, ENCRYPTED_BODY)
    ecma = jsonschema_rs.Draft202012Validator(_within(document, ENCRYPTED_BODY))
    for broken in ({**issue, "content": {**issue["content"], "issue_id": "not an id"}},
                   {**issue, "content": {"title": issue["content"]["title"]}},
                   {**issue, "type": "agenda.issue.close", "content": {"title": "no id"}},
                   {**issue, "binding": "not hex"}):
        assert not any_body.is_valid(broken), broken
        assert not ecma.is_valid(broken), broken


def test_real_answers_validate_against_the_served_description(world) -> None:  # noqa: ANN001
    answers = answers_of_a_session(world)
    described = schemathesis.openapi.from_dict(_document(world))
    checked = set()
    for method, path, response in answers:
        operation = described.find_operation_by_path(method, path)
        assert operation is not None, (method, path)
        if not hasattr(response, "_elapsed"):  # the in-process transport builds responses without timing
            response.elapsed = timedelta(0)
        operation.validate_response(response)
        checked.add((method, operation.path, response.status_code))
    assert len(checked) >= 12, checked
    assert any(status == 404 for *_, status in checked), checked
    identity = described.find_operation_by_path("GET", "/v1/relay")
    forged = httpx.Response(200, json={"name": 1}, request=httpx.Request("GET", "http://relay/v1/relay"))
    forged.elapsed = timedelta(0)
    with pytest.raises(FailureGroup) as refused:
        identity.validate_response(forged)
    assert any("violates schema" in str(failure) for failure in refused.value.exceptions)
