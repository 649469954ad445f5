"""The typed body declarations (``parley.protocol.bodies``): every kind declared, its shape check derived from
the declaration, and a malformed body of any kind refused with ``InputError`` — never a crash of the fold."""

from __future__ import annotations

import json

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parley.errors import InputError
from parley.protocol import agreement as ag
from parley.protocol import workflow as wf
from parley.protocol import zopa
from parley.protocol.bodies import MODELS, JsonContent, body_schemas, decode_content, decode_stored
from parley.protocol.trust import TRUST_VERIFY, derive_party_trust

T0, T1, T2 = "2025-06-02T10:00:00Z", "2025-06-02T12:00:00Z", "2025-06-01T10:00:00Z"
SHA = "ab" * 32
FILE = {"attachment_id": "file-1", "name": "annex.pdf", "size": 10, "sha256": SHA, "chunks": 1}
TERMS = {"venue": "Geneva", "start": T0, "end": T1, "timezone": "Europe/Zurich"}

#: one well-formed body of every kind, the starting point of every mutation below
VALID = {
    wf.ISSUE_ADD: {"issue_id": "grain", "title": "Grain corridor"},
    wf.ISSUE_RENAME: {"issue_id": "grain", "title": "Grain exports"},
    wf.ISSUE_CLOSE: {"issue_id": "grain"},
    wf.ROUND_OPEN: {"round_id": "round-1", "number": 1, "venue": "Geneva", "starts": T0, "ends": T1,
                    "agenda": ["grain"]},
    wf.ROUND_CLOSE: {"round_id": "round-1", "outcome": "Agreed on the corridor."},
    wf.ROUND_LINK: {"round_id": "round-1", "kind": "memorandum", "ref": "memo-1"},
    wf.MEMO_DRAFT: {"memo_id": "memo-1", "title": "Opening", "version": 1, "positions": {"grain": "Open it."}},
    wf.MEMO_DELIVER: {"memo_id": "memo-1", "title": "Opening", "version": 1, "positions": {"grain": "Open it."},
                      "respond_by": T1, "attachments": [FILE], "restricted": {"grain": "Fallback."}},
    wf.MEMO_RESTRICTED: {"memo_id": "memo-1", "sections": {"grain": "Fallback."}},
    wf.RECEIPT: {"memo_id": "memo-1", "event_id": "e" * 64},
    wf.RESPONSE: {"memo_id": "memo-1", "stances": {"grain": {"stance": "counter", "text": "Half."}},
                  "covering_text": "See annex."},
    wf.COMMENT: {"ref": "memo-1", "text": "Noted."},
    wf.MEETING_PROPOSE: {"meeting_id": "meeting-1", **TERMS, "level": "delegation", "agenda": ["grain"]},
    wf.MEETING_RESPOND: {"meeting_id": "meeting-1", "answer": "counter", "counter": TERMS, "note": "Later?"},
    wf.CHANNEL_OPEN: {"channel_id": "chan-1", "name": "Technical"},
    wf.CHANNEL_MESSAGE: {"channel_id": "chan-1", "text": "Hello.", "attachments": [FILE]},
    wf.MESSAGE: {"text": "Hello."},
    wf.TITLE: {"title": "Black Sea talks"},
    ag.TEXT: {"agreement_id": "accord", "version": 1, "title": "Accord",
              "articles": [{"number": 1, "heading": "Scope", "text": "It applies."}],
              "annexes": [{"name": "map.pdf", "size": 3, "sha256": SHA}]},
    ag.OBJECTION: {"agreement_id": "accord", "kind": "objection", "version": 1, "article": 1, "text": "No."},
    ag.FINALIZE: {"agreement_id": "accord", "text_sha256": SHA, "override": False},
    ag.SIGN: {"agreement_id": "accord", "text_sha256": SHA, "signature": "-----BEGIN SSH SIGNATURE-----"},
    ag.RELEASE: {"agreement_id": "accord", "text_sha256": SHA, "consent": "-----BEGIN SSH SIGNATURE-----"},
    TRUST_VERIFY: {"party_id": "party-ua", "root_key": "key", "verified": True},
    "attachment.chunk": {"attachment_id": "file-1", "index": 0, "total": 2, "data": "AAAA"},
    zopa.ZOPA_OPEN: {"check_id": "zopa-1", "issue_id": "grain", "round_id": "round-1",
                     "parties": ["party-ua", "party-ru"], "split": "midpoint"},
    zopa.ZOPA_COMMIT: {"check_id": "zopa-1", "direction": "at-least", "split_consent": True,
                       "replies": {"party-ua": {"blinded": ["AAAA"], "sum": "AAAA"}}, "key": "AAAA", "bits": ["AAAA"]},
    zopa.ZOPA_REVEAL: {"check_id": "zopa-1", "shares": {"party-ru": 1}},
    zopa.ZOPA_UNMASK: {"check_id": "zopa-1", "mask": "12345"},
    zopa.ZOPA_SPLIT: {"check_id": "zopa-1", "midpoint": "1000.5"},
    zopa.ZOPA_ABORT: {"check_id": "zopa-1", "reason": "The round is over."},
}
KINDS = sorted(VALID)

#: a JSON value of any kind (what a hostile author can put anywhere in a body)
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                 max_size=3), max_leaves=8)


def test_every_encrypted_event_type_of_the_folds_has_one_declaration():
    workflow_types = wf.AGENDA_TYPES | {
        wf.ROUND_OPEN, wf.ROUND_CLOSE, wf.ROUND_LINK, wf.MEMO_DRAFT, wf.MEMO_DELIVER, wf.MEMO_RESTRICTED,
        wf.RECEIPT, wf.RESPONSE, wf.COMMENT, wf.MEETING_PROPOSE, wf.MEETING_RESPOND, wf.CHANNEL_OPEN,
        wf.CHANNEL_MESSAGE, wf.MESSAGE, wf.TITLE}
    others = {TRUST_VERIFY, "attachment.chunk"}
    assert workflow_types | ag.AGREEMENT_TYPES | others | zopa.ZOPA_TYPES == set(MODELS) == set(KINDS)


@pytest.mark.parametrize("event_type", KINDS)
def test_the_valid_body_of_each_kind_decodes_to_its_typed_object(event_type):
    body = decode_content(event_type, VALID[event_type])
    assert isinstance(body, MODELS[event_type])
    # the typed object says what the signed JSON says (defaults left out)
    assert msgspec.to_builtins(body) == VALID[event_type]


def test_the_json_schema_of_every_kind_comes_from_the_same_declaration():
    schemas = body_schemas()
    assert set(schemas["types"]) == set(MODELS)
    memo = schemas["$defs"]["Memorandum"]
    assert set(memo["required"]) == {"memo_id", "title", "version", "positions"}
    assert memo["properties"]["version"]["minimum"] == 1
    json.dumps(schemas)  # plain JSON


def _required_fields(event_type: str) -> list[str]:
    info = msgspec.inspect.type_info(MODELS[event_type])
    return [f.encode_name for f in info.fields if f.required]


def _wrong_values(event_type: str, name: str) -> list[object]:
    """Values of a JSON type the declaration of field ``name`` does not admit."""
    info = next(f for f in msgspec.inspect.type_info(MODELS[event_type]).fields if f.encode_name == name)
    kind = type(info.type).__name__
    wrong = {"StrType": [7, [], {}, None, True], "IntType": ["7", 1.5, [], None, True],
             "BoolType": ["yes", 1, None], "DictType": ["x", [], 3, None], "ListType": ["x", {}, 3, None],
             "LiteralType": ["nonsense", 3, None], "StructType": ["x", [], 3]}
    return wrong.get(kind, [None])


@pytest.mark.parametrize("event_type", KINDS)
def test_a_body_missing_a_required_field_is_refused_naming_it(event_type):
    for name in _required_fields(event_type):
        content = {k: v for k, v in VALID[event_type].items() if k != name}
        with pytest.raises(InputError, match=name):
            decode_content(event_type, content)


@pytest.mark.parametrize("event_type", KINDS)
def test_a_field_of_the_wrong_type_is_refused_with_input_error(event_type):
    for name in _required_fields(event_type):
        for value in _wrong_values(event_type, name):
            with pytest.raises(InputError):
                decode_content(event_type, {**VALID[event_type], name: value})


@pytest.mark.parametrize("event_type", KINDS)
def test_content_that_is_not_an_object_is_refused(event_type):
    for value in (None, [], "memo", 3):
        with pytest.raises(InputError, match="must be an object"):
            decode_content(event_type, value)


def test_an_unknown_event_type_is_refused():
    with pytest.raises(InputError, match="unknown event type"):
        decode_content("memorandum.forge", {})


def test_files_on_a_kind_that_carries_none_are_refused():
    with pytest.raises(InputError, match="carries no files"):
        decode_content(wf.ISSUE_ADD, {**VALID[wf.ISSUE_ADD], "attachments": [FILE]})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event_type=st.sampled_from(KINDS), data=st.data(), value=JSON, drop=st.booleans())
def test_malformed_body_of_each_kind_is_refused_not_crashed_on(event_type, data, value, drop):
    """A hostile author drops a field of a body, or puts any JSON value in one (known or not): decoding gives a
    typed body or InputError, nothing else (no TypeError, KeyError or AttributeError reaching the fold)."""
    base = VALID[event_type]
    name = data.draw(st.sampled_from(sorted(base)) | st.text(max_size=12))
    content = {k: v for k, v in base.items() if k != name} if drop else {**base, name: value}
    try:
        decode_content(event_type, content)
    except InputError:
        pass


def _entry(seq: int, event_type: str, content: object, *, role: str = "head") -> wf.Entry:
    return wf.Entry(seq=seq, event_id=f"{seq:064x}", created=T2, author="Head", role=role, party="party-ua",
                    authority="head", audience=("party-ru", "party-ua"), type=event_type, content=content)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event_type=st.sampled_from(KINDS), content=JSON)
def test_folds_list_a_malformed_body_as_a_violation_instead_of_crashing(event_type, content):
    """Arbitrary JSON under any event type, folded by every fold: each either applies it or lists it as a
    violation; none raises."""
    entries = [_entry(1, event_type, content)]
    views = wf.derive_views(entries, {})
    agreements, violations = ag.derive_agreements(entries, "neg-1")
    records, trust_violations = derive_party_trust(entries, "party-ua")
    ledger = zopa.derive_ledger(entries)
    if not isinstance(content, dict):
        assert len(views.violations) + len(violations) + len(trust_violations) + len(ledger.violations) >= 1


@pytest.mark.parametrize("event_type", [t for t in KINDS if t in wf.__dict__.values()])
def test_a_workflow_body_with_a_broken_field_is_a_violation_naming_the_field(event_type):
    name = _required_fields(event_type)[0]
    content = {**VALID[event_type], name: _wrong_values(event_type, name)[0]}
    views = wf.derive_views([_entry(1, event_type, content)], {})
    assert len(views.violations) == 1 and name in views.violations[0], views.violations


def test_a_meeting_proposal_with_a_nested_agenda_cannot_crash_every_readers_fold():
    """A member posts a meeting whose agenda holds a list instead of key issue ids: the hand-written check let it
    reach ``item in issues`` (TypeError, every reader's views broken); the declaration refuses it as a violation."""
    hostile = {**VALID[wf.MEETING_PROPOSE], "agenda": [["grain"]]}
    views = wf.derive_views([_entry(1, wf.ISSUE_ADD, VALID[wf.ISSUE_ADD]), _entry(2, wf.MEETING_PROPOSE, hostile)],
                            {}, convener="party-ua")
    assert views.meetings == {} and "grain" in views.issues
    assert len(views.violations) == 1 and "agenda" in views.violations[0]


def _stored(event_type: str, content: object) -> bytes:
    return json.dumps({"type": event_type, "content": content, "binding": "b" * 64}).encode()


@pytest.mark.parametrize("event_type", KINDS)
def test_a_stored_body_decodes_in_one_pass_to_the_same_typed_object(event_type):
    decoded_type, body, mapping = decode_stored(_stored(event_type, VALID[event_type]))
    assert decoded_type == event_type and body == decode_content(event_type, VALID[event_type])
    assert isinstance(mapping, JsonContent) and dict(mapping) == VALID[event_type]


@settings(max_examples=200, deadline=None)
@given(event_type=st.sampled_from(KINDS), content=JSON)
def test_a_stored_malformed_body_is_left_to_the_fold_which_refuses_it_as_decode_content_does(event_type, content):
    """The one-pass read of the local copy never admits what ``decode_content`` refuses (nor crashes)."""
    _, body, mapping = decode_stored(_stored(event_type, content))
    entry = wf.typed_entry(body, seq=1, event_id="e" * 64, created=T2, author="Head", role="head", party="party-ua",
                           authority="head", audience=("party-ru", "party-ua"), type=event_type, content=mapping)
    try:
        expected = decode_content(event_type, content if isinstance(content, dict) else {})
    except InputError as exc:
        assert body is None
        with pytest.raises(InputError) as refused:
            entry.body  # noqa: B018 - the property decodes
        assert refused.value.message == exc.message
    else:
        assert entry.body == expected


def test_files_smuggled_into_a_stored_body_that_carries_none_are_refused():
    _, body, mapping = decode_stored(_stored(wf.ISSUE_ADD, {**VALID[wf.ISSUE_ADD], "attachments": [FILE]}))
    assert body is None
    with pytest.raises(InputError, match="carries no files"):
        decode_content(wf.ISSUE_ADD, mapping)


def test_a_body_with_infinity_that_the_sync_accepted_does_not_break_the_readers_views():
    """``json`` reads ``Infinity`` (a hostile author's plaintext need not be canonical); the one-pass read of the
    local copy must still give the reader a fold, with the body refused or applied, never an exception."""
    for number in (b"Infinity", b"1e999"):
        for event_type in (wf.ISSUE_ADD, "zopa.open"):
            text = b'{"type": "%s", "content": {"issue_id": "grain", "title": "Grain", "x": %s}}' % (
                event_type.encode(), number)
            decoded_type, body, mapping = decode_stored(text)
            assert decoded_type == event_type and mapping["title"] == "Grain"
            assert body is None or body.title == "Grain"
    assert decode_content(wf.ISSUE_ADD, mapping).title == "Grain"


def test_the_content_of_a_kind_without_declaration_reads_as_a_plain_dict():
    _, body, mapping = decode_stored(_stored("zopa.open", {"check_id": "zopa-1"}))
    assert body is None and type(mapping) is dict and mapping == {"check_id": "zopa-1"}


def test_a_stored_body_that_is_not_json_is_refused():
    with pytest.raises(InputError, match="not"):
        decode_stored(b"{nope")
