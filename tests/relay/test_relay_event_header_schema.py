"""The event header's declaration for the OpenAPI description (``parley.relay.schemas.EventHeader``) and its
parser (``parley.protocol.events.Header.from_obj``, written by hand for speed) agree: both read every real
event the same way, and both refuse the same broken headers, so the description cannot drift from the parser.

Rules across fields stay the parser's only: party ids and recipients sorted and unique, a public event without
ciphertexts and an encrypted one with at least one, and the relay's configurable limits."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import jsonschema_rs
import pytest
from pydantic import TypeAdapter, ValidationError
from sdk_session import answers_of_a_session

from parley.errors import InputError, LimitError
from parley.protocol.events import HEADER_FIELDS, HEADER_FIELDS_V1, Header
from parley.relay.schemas import (
    AnyEventHeader,
    EventHeader,
    EventHeaderV1,
    HeaderAudience,
    HeaderCheckpoint,
    HeaderCiphertext,
    PublicEvent,
)

ANY_HEADER: TypeAdapter = TypeAdapter(AnyEventHeader)


@pytest.fixture
def real_headers(world) -> tuple[dict[str, Any], list[dict[str, Any]]]:  # noqa: ANN001
    """The served description and the header of every event a recorded SDK session listed."""
    headers = {}
    for method, path, response in answers_of_a_session(world):
        if method == "GET" and path.endswith("/events") and response.status_code == 200:
            for listed in response.json()["events"]:
                if "hidden" in listed:
                    continue
                headers[listed["event"]["header"]["nonce"]] = listed["event"]["header"]
    with httpx.Client(transport=world.transport, base_url="http://relay") as http:
        document = http.get("/openapi.json").json()
    return document, list(headers.values())


def _served(document: dict[str, Any]) -> jsonschema_rs.Draft202012Validator:
    """The served header schemas (either version), their ``public`` field the declared kinds (``PublicEvent``)."""
    return jsonschema_rs.Draft202012Validator({"oneOf": [{"$ref": "#/components/schemas/EventHeader"},
                                                         {"$ref": "#/components/schemas/EventHeaderV1"}],
                                               "components": document["components"]})


def test_the_declaration_names_the_parsers_fields() -> None:
    assert set(EventHeader.model_fields) == HEADER_FIELDS
    assert set(EventHeaderV1.model_fields) == HEADER_FIELDS_V1
    assert all(field.is_required() for field in EventHeader.model_fields.values())
    assert all(field.is_required() for field in EventHeaderV1.model_fields.values())
    assert set(HeaderAudience.model_fields) == {"parties", "roles"}
    assert set(HeaderCiphertext.model_fields) == {"sha256", "recipients"}
    assert set(HeaderCheckpoint.model_fields) == {"size", "root"}
    assert set(PublicEvent.model_fields) == {"type", "content"}


def test_real_headers_read_alike(real_headers) -> None:  # noqa: ANN001
    document, headers = real_headers
    served = _served(document)
    kinds = {header["public"]["type"] if header["public"] else "encrypted" for header in headers}
    assert {"negotiation.genesis", "party.invite", "party.join", "encrypted"} <= kinds, kinds
    assert any(header["checkpoint"] for header in headers) and any(header["prev"] for header in headers)
    for header in headers:
        declared = ANY_HEADER.validate_python(header)
        assert declared.model_dump(mode="json") == Header.from_obj(header).to_obj() == header
        served.validate(header)


def _broken(header: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(what, header) for each way of breaking ``header`` (an encrypted event's, with a checkpoint)."""
    cases: list[tuple[str, dict[str, Any]]] = []

    def case(what: str, change: Any) -> None:  # noqa: ANN401
        broken = copy.deepcopy(header)
        change(broken)
        cases.append((what, broken))

    for name in sorted(HEADER_FIELDS):
        case(f"no {name}", lambda h, name=name: h.pop(name))
    case("an unknown field", lambda h: h.update(extra=1))
    case("another version", lambda h: h.update(v=3))
    case("version 1 with tags", lambda h: h.update(v=1))
    case("tags not base64 of 16 bytes", lambda h: h.update(tags=["AAAA"]))
    case("an empty negotiation id", lambda h: h.update(negotiation=""))
    case("a long negotiation id", lambda h: h.update(negotiation="n" * 65))
    case("an author not hex", lambda h: h.update(author="X" * 32))
    case("a short author", lambda h: h.update(author="ab" * 15))
    case("a time with an offset", lambda h: h.update(created=h["created"].replace("Z", "+00:00")))
    case("a date only", lambda h: h.update(created=h["created"][:10]))
    case("a short prev", lambda h: h.update(prev="ab" * 31))
    case("a nonce of 15 bytes", lambda h: h.update(nonce="AAAAAAAAAAAAAAAAAAAA"))
    case("a nonce in non-canonical base64", lambda h: h.update(nonce="AAAAAAAAAAAAAAAAAAAAAB=="))
    case("an unknown authority", lambda h: h.update(authority="owner"))
    case("no audience parties", lambda h: h["audience"].update(parties=[]))
    case("a long party id", lambda h: h["audience"].update(parties=["p" * 65]))
    case("an unknown role", lambda h: h["audience"].update(roles=["king"]))
    case("an empty role list", lambda h: h["audience"].update(roles=[]))
    case("an audience field more", lambda h: h["audience"].update(extra=1))
    case("a ciphertexts object", lambda h: h.update(ciphertexts={}))
    case("a short ciphertext digest", lambda h: h["ciphertexts"][0].update(sha256="ab"))
    case("no recipients", lambda h: h["ciphertexts"][0].update(recipients=[]))
    case("a recipient not a key id", lambda h: h["ciphertexts"][0].update(recipients=["nobody"]))
    case("a ciphertext field more", lambda h: h["ciphertexts"][0].update(extra=1))
    case("a public without content", lambda h: h.update(public={"type": "statement.public"}))
    case("a public type not text", lambda h: h.update(public={"type": 1, "content": {}}))
    case("a negative checkpoint", lambda h: h["checkpoint"].update(size=-1))
    case("a checkpoint size not whole", lambda h: h["checkpoint"].update(size=1.5))
    case("a short checkpoint root", lambda h: h["checkpoint"].update(root="AAAA"))
    case("a checkpoint field more", lambda h: h["checkpoint"].update(extra=1))
    return cases


def test_both_refuse_the_same_broken_headers(real_headers) -> None:  # noqa: ANN001
    document, headers = real_headers
    served = _served(document)
    encrypted = next(h for h in headers if h["ciphertexts"] and h["checkpoint"] and h["prev"])
    for what, broken in _broken(encrypted):
        with pytest.raises((InputError, LimitError)):
            Header.from_obj(broken)
        with pytest.raises(ValidationError):
            ANY_HEADER.validate_python(broken)
        assert not served.is_valid(broken), what
