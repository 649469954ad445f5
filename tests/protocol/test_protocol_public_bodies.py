"""The typed declarations of the cleartext kinds (``parley.protocol.public_bodies``) and of the records a device
reads for itself (``parley.protocol.record_bodies``): every kind declared, its shape check derived from the
declaration, and a malformed body refused with ``InputError`` (or the rule book's ``ProtocolError`` /
``TrustError`` / ``SignatureError``, as before) — never a crash of the relay's or a client's check."""

from __future__ import annotations

import copy
import json

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from protocol_builders import Negotiation, Party

from parley.errors import InputError, ParleyError
from parley.protocol import agreement as ag
from parley.protocol import state as st_
from parley.protocol.public_bodies import (
    PUBLIC_MODELS,
    LoggedPublication,
    Publication,
    decode_logged_publication,
    decode_public,
    public_schemas,
)
from parley.protocol.record_bodies import (
    RECORD_MODELS,
    GrantedEvent,
    HistoryGrant,
    TracingRecord,
    decode_record,
)

SIG = "-----BEGIN SSH SIGNATURE-----"
ACT = {"signature": SIG, "device": "d" * 32, "public_key": "key", "party": "Ukraine", "member": "Head"}
PUBLICATION = {"agreement_id": "agr-1", "title": "Accord", "version": 1, "text": "Accord\n\n1. Scope",
               "document": "parley-agreement v1\n...", "signatures": {"ua": ACT}, "consents": {"ua": ACT},
               "languages": ["en", "fr"], "prevailing": "en",
               "texts": {"fr": {"title": "Accord", "text": "Accord (fr)", "document": "parley-agreement v1 fr"}}}

#: one well-formed content of every cleartext kind (signed objects as plain objects: identity checks them)
VALID = {
    st_.GENESIS: {"party": {"party_id": "ua"}, "certificates": [{"device_key_id": "d"}], "rotations": [{"r": 1}]},
    st_.PARTY_INVITE: {"party": {"party_id": "ru"}},
    st_.PARTY_JOIN: {"certificates": [{"device_key_id": "d"}]},
    st_.PARTY_LEAVE: {},
    st_.MEMBER_ADD: {"certificate": {"device_key_id": "d"}},
    st_.MEMBER_REMOVE: {"revocation": {"device_key_id": "d"}},
    st_.PARTY_ROTATE_ROOT: {"rotation": {"new_root_key": "k"}},
    st_.PUBLIC_STATEMENT: {"text": "We welcome the talks."},
    st_.PUBLICATION: PUBLICATION,
}
KINDS = sorted(VALID)
MEMBERSHIP = [k for k in KINDS if k != st_.PUBLICATION]
RECORDS = {
    "history.grant": {"grants": [{"seq": 3, "event_id": "e" * 64, "type": "message", "content": {"text": "Hi."}}]},
    "history.grant/item": {"seq": 3, "event_id": "e" * 64, "type": "message", "content": {"text": "Hi."}},
    "tracing.secret": {"document_id": "memo-1", "version": 1, "secret": "{}", "canonical": "Text.",
                       "document": {"format": "x"}, "order": ["grain"], "recipients": {"d" * 32: {"member": "Head"}}},
}

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                 max_size=3), max_leaves=8)

#: what an author can sign (no floats, integers within 2**53)
SIGNABLE = st.recursive(st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=8),
                        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                     max_size=3), max_leaves=8)


def test_every_cleartext_event_type_has_one_declaration():
    assert set(PUBLIC_MODELS) == set(st_.PUBLIC_TYPES) == set(KINDS)
    assert set(RECORD_MODELS) == set(RECORDS)


@pytest.mark.parametrize("event_type", KINDS)
def test_the_valid_content_of_each_cleartext_kind_decodes_to_its_typed_object(event_type):
    body = decode_public(event_type, VALID[event_type])
    assert isinstance(body, PUBLIC_MODELS[event_type])
    assert msgspec.to_builtins(body) == VALID[event_type]


@pytest.mark.parametrize("event_type", sorted(RECORDS))
def test_the_valid_content_of_each_record_decodes_to_its_typed_object(event_type):
    assert msgspec.to_builtins(decode_record(RECORD_MODELS[event_type], RECORDS[event_type])) == RECORDS[event_type]


def test_the_json_schemas_of_the_cleartext_kinds_come_from_the_declarations():
    schemas = public_schemas()
    assert set(schemas["types"]) == set(PUBLIC_MODELS)
    assert set(schemas["$defs"]["Genesis"]["required"]) == {"party", "certificates"}
    assert schemas["$defs"]["Genesis"]["additionalProperties"] is False
    assert "additionalProperties" not in schemas["$defs"]["Publication"]
    json.dumps(schemas)


def _required(model: type) -> list[str]:
    return [f.encode_name for f in msgspec.inspect.type_info(model).fields if f.required]


@pytest.mark.parametrize("event_type", KINDS)
def test_a_cleartext_body_missing_a_required_field_is_refused_naming_it(event_type):
    for name in _required(PUBLIC_MODELS[event_type]):
        with pytest.raises(InputError, match=name):
            decode_public(event_type, {k: v for k, v in VALID[event_type].items() if k != name})


@pytest.mark.parametrize("event_type", MEMBERSHIP)
def test_a_membership_event_with_a_field_it_does_not_hold_is_refused_naming_it(event_type):
    with pytest.raises(InputError, match="'smuggled'"):
        decode_public(event_type, {**VALID[event_type], "smuggled": 1})


def test_a_publication_ignores_a_field_it_does_not_know():
    assert decode_public(st_.PUBLICATION, {**PUBLICATION, "newer": 1}).agreement_id == "agr-1"


@pytest.mark.parametrize("event_type", KINDS)
def test_cleartext_content_that_is_not_an_object_is_refused(event_type):
    for value in (None, [], "x", 3):
        with pytest.raises(InputError, match="must be an object"):
            decode_public(event_type, value)


def test_a_public_statement_without_text_is_refused_saying_so():
    with pytest.raises(InputError, match="needs text"):
        decode_public(st_.PUBLIC_STATEMENT, {"text": " \n"})


def test_a_publication_of_bundle_format_1_still_reads_but_the_relay_asks_for_version_and_document():
    old = {k: v for k, v in PUBLICATION.items() if k not in ("version", "document")}
    assert isinstance(decode_logged_publication(old), LoggedPublication)
    with pytest.raises(InputError, match="version"):
        decode_public(st_.PUBLICATION, old)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event_type=st.sampled_from(KINDS), data=st.data(), value=JSON, drop=st.booleans())
def test_malformed_cleartext_body_of_each_kind_is_refused_not_crashed_on(event_type, data, value, drop):
    """A hostile member drops a field of a cleartext body or puts any JSON value in one: decoding gives the typed
    body or InputError, nothing else (no TypeError, KeyError or AttributeError reaching the relay's check)."""
    base = VALID[event_type]
    name = data.draw(st.sampled_from(sorted(base) or ["text"]) | st.text(max_size=12))
    content = {k: v for k, v in base.items() if k != name} if drop else {**base, name: value}
    try:
        body = decode_public(event_type, content)
    except InputError:
        return
    assert isinstance(body, PUBLIC_MODELS[event_type])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event_type=st.sampled_from(sorted(RECORDS)), data=st.data(), value=JSON, drop=st.booleans())
def test_malformed_grant_or_tracing_record_is_refused_not_crashed_on(event_type, data, value, drop):
    base = RECORDS[event_type]
    name = data.draw(st.sampled_from(sorted(base)) | st.text(max_size=12))
    content = {k: v for k, v in base.items() if k != name} if drop else {**base, name: value}
    try:
        decode_record(RECORD_MODELS[event_type], content)
    except InputError:
        pass


@pytest.mark.parametrize("model", [HistoryGrant, GrantedEvent, TracingRecord])
def test_a_record_missing_a_required_field_is_refused_naming_it(model):
    event_type = next(t for t, m in RECORD_MODELS.items() if m is model)
    for name in _required(model):
        with pytest.raises(InputError, match=name):
            decode_record(model, {k: v for k, v in RECORDS[event_type].items() if k != name})


# ---- through the rule book: what the relay and every client run ---------------------------------------------
_PARTIES = (Party.create("Türkiye"), Party.create("Ukraine"))
_BASE = Negotiation()
_BASE.genesis(_PARTIES[0])
_BASE.invite(_PARTIES[0].head, _PARTIES[1])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event_type=st.sampled_from(KINDS), data=st.data(), value=SIGNABLE, drop=st.booleans())
def test_the_rule_book_refuses_a_malformed_cleartext_event_without_crashing(event_type, data, value, drop):
    """A malformed cleartext event of any kind, signed by a current head: ``accept`` refuses it with a parley
    error (InputError, ProtocolError, TrustError, SignatureError as before) and leaves the state unchanged."""
    neg = copy.deepcopy(_BASE)
    base = {st_.PARTY_JOIN: {"certificates": _PARTIES[1].certificates()},
            st_.MEMBER_ADD: {"certificate": _PARTIES[0].certificates()[0]}}.get(event_type, VALID[event_type])
    name = data.draw(st.sampled_from(sorted(base) or ["text"]) | st.text(max_size=12))
    content = {k: v for k, v in base.items() if k != name} if drop else {**base, name: value}
    author = _PARTIES[1].head if event_type == st_.PARTY_JOIN else _PARTIES[0].head
    envelope = neg.public(author, event_type, content, authority="head", parties=[p.id for p in _PARTIES])
    before = json.dumps(sorted(neg.state.parties)), len(neg.state.members), neg.state.size
    try:
        neg.state.accept(envelope)
    except ParleyError:
        assert (json.dumps(sorted(neg.state.parties)), len(neg.state.members), neg.state.size) == before


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), value=JSON, drop=st.booleans(), nested=st.booleans())
def test_check_publication_refuses_a_malformed_publication_without_crashing(data, value, drop, nested):
    """The relay's publication check on a publication with a field dropped or replaced (at the top or inside a
    party's signature): a parley error, never a TypeError or KeyError."""
    if nested:
        act = {k: v for k, v in ACT.items() if k != "device"} if drop else {**ACT, data.draw(
            st.sampled_from(sorted(ACT)) | st.text(max_size=6)): value}
        content = {**PUBLICATION, "signatures": {"ua": act}}
    else:
        name = data.draw(st.sampled_from(sorted(PUBLICATION)) | st.text(max_size=12))
        content = ({k: v for k, v in PUBLICATION.items() if k != name} if drop else {**PUBLICATION, name: value})
    with pytest.raises(ParleyError):
        ag.check_publication(content, "n-test", {"ua": {"d" * 32: "key"}})


def test_check_publication_reads_the_typed_body_the_rule_book_decoded():
    with pytest.raises(ParleyError):
        ag.check_publication(decode_public(st_.PUBLICATION, PUBLICATION), "n-test", {})
    assert isinstance(decode_public(st_.PUBLICATION, PUBLICATION), Publication)
