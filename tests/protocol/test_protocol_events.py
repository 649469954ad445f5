"""The event envelope: strict header parsing, wire round trip, ciphertext digests, limits, body binding."""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from protocol_builders import NOW, Negotiation, Party

from parley.crypto.keys import b64encode, new_nonce
from parley.crypto.seal import open_padded, seal
from parley.errors import InputError, LimitError, ParleyError, ProtocolError, SignatureError
from parley.protocol.events import (
    HEADER_FIELDS,
    Audience,
    CiphertextRef,
    Envelope,
    Header,
    build_header,
    make_body,
    parse_body,
    sign_header,
)
from parley.settings import DEFAULT_LIMITS, Limits

HEX32 = "0" * 32
HEX64 = "a" * 64


@pytest.fixture
def alice() -> Party:
    party = Party.create("Ukraine")
    party.device("Delegate")
    return party


@pytest.fixture
def neg(alice: Party) -> Negotiation:
    neg = Negotiation()
    neg.genesis(alice)
    return neg


@pytest.fixture
def envelope(neg: Negotiation, alice: Party) -> Envelope:
    """A valid encrypted event (not yet accepted) from A's head to both of A's devices."""
    return neg.encrypted(alice.head, "memorandum.draft", {"text": "Our position on issue 1."},
                         readers=alice.devices, parties=[alice.id])


def _header_obj(envelope: Envelope) -> dict[str, Any]:
    return copy.deepcopy(envelope.header.to_obj())


def _set(obj: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """Set a dotted path ("audience.roles", "ciphertexts.0.sha256") in a copy; the value DELETE removes it."""
    out = copy.deepcopy(obj)
    *parents, last = path.split(".")
    target: Any = out
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if isinstance(target, list):
        target[int(last)] = value
    elif value is DELETE:
        del target[last]
    else:
        target[last] = value
    return out


DELETE = object()
_PUBLIC = {"type": "statement.public", "content": {"text": "hi"}}

# (path, value, message fragment): each turns a valid encrypted header into an invalid one
HEADER_CASES = [
    ("surplus", 1, "unknown ['surplus']"),
    ("nonce", DELETE, "missing ['nonce']"),
    ("v", 3, "unsupported protocol version"),
    ("v", True, "unsupported protocol version"),
    ("v", 1, "unknown ['tags']"),
    ("tags", DELETE, "missing ['tags']"),
    ("tags", [], "non-empty list"),
    ("tags", "x", "non-empty list"),
    ("tags", [b64encode(b"t" * 15)], "base64 strings of 16 bytes"),
    ("tags", [b64encode(b"t" * 16)] * 2, "sorted, unique"),
    ("tags", [b64encode(b"t" * 16)], "one tag per recipient"),
    ("negotiation", "", "negotiation id"),
    ("negotiation", "n" * 65, "negotiation id"),
    ("negotiation", 7, "negotiation id"),
    ("author", "A" * 32, "device key id"),
    ("author", "0" * 31, "device key id"),
    ("author", "g" * 32, "device key id"),
    ("author", None, "device key id"),
    ("created", "2025-06-02 10:00:00", "header.created"),
    ("created", "2025-06-02T10:00:00+00:00", "header.created"),
    ("created", "2025-06-02T10:00:00.123Z", "header.created"),
    ("created", "2025-13-02T10:00:00Z", "not a valid date"),
    ("created", 1748858400, "header.created"),
    ("prev", "a" * 63, "header.prev"),
    ("prev", "A" * 64, "header.prev"),
    ("nonce", "not base64!", "header.nonce"),
    ("nonce", b64encode(b"x" * 15), "16 random bytes"),
    ("nonce", "QR==", "canonical"),
    ("authority", "admin", "header.authority"),
    ("audience", {"parties": [HEX32]}, "audience must be"),
    ("audience.parties", [], "non-empty list"),
    ("audience.parties", ["b", "a"], "sorted, unique"),
    ("audience.parties", ["a", "a"], "sorted, unique"),
    ("audience.parties", ["p" * 65], "sorted, unique"),
    ("audience.roles", [], "audience.roles"),
    ("audience.roles", ["king"], "audience.roles"),
    ("audience.roles", ["head", "delegate"], "audience.roles"),
    ("audience.roles", [{}], "audience.roles"),
    ("audience.roles", "head", "audience.roles"),
    ("ciphertexts", {}, "must be a list"),
    ("ciphertexts", [], "at least one ciphertext"),
    ("ciphertexts.0", {"sha256": HEX64}, "{sha256, recipients}"),
    ("ciphertexts.0.sha256", "b" * 63, "64 hex digits"),
    ("ciphertexts.0.recipients", [], "non-empty list"),
    ("ciphertexts.0.recipients", ["X" * 32], "non-empty list"),
    ("ciphertexts.0.recipients", ["f" * 32, "0" * 32], "sorted and unique"),
    ("ciphertexts.0.recipients", ["0" * 32, "0" * 32], "sorted and unique"),
    ("public", _PUBLIC, "a public event carries no ciphertexts"),
    ("public", {"type": "x"}, "header.public must be"),
    ("public", {"type": 1, "content": {}}, "header.public must be"),
    ("checkpoint", {"size": -1, "root": b64encode(bytes(32))}, "checkpoint"),
    ("checkpoint", {"size": True, "root": b64encode(bytes(32))}, "checkpoint"),
    ("checkpoint", {"size": 1, "root": b64encode(bytes(31))}, "32 bytes"),
    ("checkpoint", {"size": 1, "root": b64encode(bytes(32)), "x": 1}, "checkpoint"),
    ("checkpoint", [], "checkpoint"),
]


def test_valid_header_round_trips(envelope: Envelope) -> None:
    obj = _header_obj(envelope)
    assert Header.from_obj(obj) == envelope.header
    assert Header.from_obj(obj).to_obj() == obj
    assert set(obj) == HEADER_FIELDS


@pytest.mark.parametrize(("path", "value", "message"), HEADER_CASES,
                         ids=[f"{p}={v if v is not DELETE else 'DELETE'!s:.20}" for p, v, _ in HEADER_CASES])
def test_header_from_obj_is_strict(envelope: Envelope, path: str, value: Any, message: str) -> None:
    bad = _set(_header_obj(envelope), path, value)
    with pytest.raises(InputError) as err:
        Header.from_obj(bad)
    assert message in str(err.value)


def test_header_must_be_an_object() -> None:
    for value in (None, [], "header", 1):
        with pytest.raises(InputError):
            Header.from_obj(value)


def test_public_header_without_ciphertexts_is_valid(neg: Negotiation, alice: Party) -> None:
    env = neg.public(alice.head, "statement.public", {"text": "hi"}, parties=[alice.id], authority="head")
    assert Header.from_obj(env.header.to_obj()).public_type == "statement.public"


def test_header_limits(envelope: Envelope) -> None:
    obj = _header_obj(envelope)
    two = _set(obj, "ciphertexts", obj["ciphertexts"] * 2)
    with pytest.raises(LimitError, match="at most 1 ciphertexts"):
        Header.from_obj(two, Limits(max_ciphertexts_per_event=1))
    with pytest.raises(LimitError, match="at most 1 recipients"):
        Header.from_obj(obj, Limits(max_recipients_per_event=1))
    with pytest.raises(InputError, match="audience.parties"):
        Header.from_obj(_set(obj, "audience.parties", ["a", "b"]), Limits(max_parties=1))


def test_envelope_json_round_trip(envelope: Envelope, alice: Party) -> None:
    data = envelope.to_json()
    again = Envelope.from_json(data)
    assert again == envelope
    assert again.event_id == envelope.event_id == hashlib.sha256(envelope.header_bytes).hexdigest()
    assert again.to_json() == data
    again.verify_signature(alice.head.signing.public_b64)
    assert Envelope.from_json(data.decode()) == envelope  # str works too


def test_envelope_with_withheld_ciphertext_round_trips(envelope: Envelope) -> None:
    withheld = replace(envelope, ciphertexts=(None,))
    assert Envelope.from_json(withheld.to_json()).ciphertexts == (None,)
    with pytest.raises(InputError, match="missing"):
        withheld.check_ciphertexts(require_all=True)


def test_envelope_from_json_rejects_garbage() -> None:
    for data in (b"", b"{", b"\xff\xfe", b"[]", b'{"header": {}}'):
        with pytest.raises(InputError):
            Envelope.from_json(data)


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("signature", "AAAA", InputError),
        ("signature", None, InputError),
        ("ciphertexts", "blob", InputError),
        ("ciphertexts", [], InputError),  # count differs from the header
        ("ciphertexts", ["not base64!"], InputError),
        ("ciphertexts", [7], LimitError),
        ("surplus", 1, InputError),
    ],
)
def test_envelope_from_obj_is_strict(envelope: Envelope, field: str, value: Any, error: type) -> None:
    obj = {**envelope.to_obj(), field: value}
    with pytest.raises(error):
        Envelope.from_obj(obj)


def test_tampered_ciphertext_is_rejected(envelope: Envelope, neg: Negotiation) -> None:
    blob = bytearray(envelope.ciphertexts[0])
    blob[-1] ^= 1
    obj = {**envelope.to_obj(), "ciphertexts": [b64encode(bytes(blob))]}
    with pytest.raises(ProtocolError, match="rewritten"):
        Envelope.from_obj(obj)
    tampered = replace(envelope, ciphertexts=(bytes(blob),))
    before = neg.state.size
    with pytest.raises(ProtocolError, match="rewritten"):
        neg.state.accept(tampered)
    assert neg.state.size == before


def test_tampered_header_fails_signature(envelope: Envelope, alice: Party) -> None:
    forged = replace(envelope, header=replace(envelope.header, authority="head"))
    with pytest.raises(SignatureError):
        forged.verify_signature(alice.head.signing.public_b64)


def test_oversized_event_is_rejected(neg: Negotiation, alice: Party) -> None:
    limits = DEFAULT_LIMITS
    # A ciphertext over the per-ciphertext limit, correctly signed by a member.
    big = neg.encrypted(alice.head, "memorandum.draft", {"text": "x" * (limits.max_ciphertext_bytes + 1)},
                        readers=alice.devices, parties=[alice.id])
    assert len(big.ciphertexts[0]) > limits.max_ciphertext_bytes
    with pytest.raises(LimitError):
        Envelope.from_json(big.to_json())
    with pytest.raises(LimitError):
        neg.state.accept(big)
    assert neg.state.size == 1
    # A header over the header limit (a huge public statement).
    huge = neg.public(alice.head, "statement.public", {"text": "y" * limits.max_header_bytes},
                      parties=[alice.id], authority="head")
    with pytest.raises(LimitError, match="header is over"):
        Envelope.from_obj(huge.to_obj())
    # All ciphertexts together over the per-event limit.
    small = Limits(max_ciphertext_bytes=10_000, max_event_ciphertext_bytes=15_000)
    header = build_header(nonce=new_nonce(), negotiation=neg.id, author=alice.head.id, created=NOW, audience=Audience((alice.id,)),
                          prev=neg.state.head)
    blobs = [seal(make_body("m", {"text": "z" * 9000}, header), [alice.head.cert.encryption_key])
             for _ in range(2)]
    refs = tuple(CiphertextRef(hashlib.sha256(b).hexdigest(), (alice.head.id,)) for b in blobs)
    header = replace(header, ciphertexts=refs)
    two = Envelope(header, sign_header(alice.head.signing, header), tuple(blobs))
    with pytest.raises(LimitError, match="event's ciphertexts"):
        Envelope.from_obj(two.to_obj(), small)


def test_body_round_trip_with_binding(envelope: Envelope, alice: Party) -> None:
    plaintext = open_padded(envelope.ciphertexts[0], alice.devices[1].encryption)
    body = json.loads(plaintext)
    assert set(body) == {"type", "content", "binding"}
    assert body["binding"] == envelope.header.binding()
    parsed = parse_body(plaintext, envelope.header)
    assert (parsed.type, parsed.content) == ("memorandum.draft", {"text": "Our position on issue 1."})


def test_binding_ignores_ciphertext_digests_only(envelope: Envelope) -> None:
    header = envelope.header
    assert replace(header, ciphertexts=()).binding() == header.binding()
    assert replace(header, nonce=b64encode(bytes(16))).binding() != header.binding()
    core = header.to_obj()
    del core["ciphertexts"]
    from parley.crypto.canonical import canonical_bytes

    assert header.binding() == hashlib.sha256(canonical_bytes(core)).hexdigest()


def test_ciphertext_moved_to_another_event_is_rejected(neg: Negotiation, alice: Party) -> None:
    first = neg.accept(neg.encrypted(alice.head, "message", {"text": "agreed"}, readers=alice.devices,
                                     parties=[alice.id]))
    # A second event (new nonce, new prev) reusing the first event's ciphertext, validly signed.
    header = build_header(nonce=new_nonce(), negotiation=neg.id, author=alice.head.id, created=NOW, audience=Audience((alice.id,)),
                          prev=neg.state.head, ciphertexts=first.header.ciphertexts)
    moved = Envelope(header, sign_header(alice.head.signing, header), first.ciphertexts)
    neg.accept(moved)  # the digest matches: structurally fine, the relay cannot tell...
    plaintext = open_padded(moved.ciphertexts[0], alice.head.encryption)
    with pytest.raises(ProtocolError, match="binding mismatch"):
        parse_body(plaintext, moved.header)  # ...but every reader does


@pytest.mark.parametrize(
    "plaintext",
    [b"not json", b"[]", b'{"type": "m", "content": 1}', b'{"type": 1, "content": 1, "binding": "x"}',
     b'{"type": "m", "content": 1, "binding": "x", "extra": 1}'],
)
def test_parse_body_rejects_non_bodies(envelope: Envelope, plaintext: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_body(plaintext, envelope.header)


def test_make_body_refuses_floats(envelope: Envelope) -> None:
    with pytest.raises(InputError):
        make_body("m", {"amount": 1.5}, envelope.header)


# ---- fuzzing: hostile input raises parley errors only ----------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
_HEADER_PATHS = sorted(HEADER_FIELDS) + [
    "audience.parties", "audience.roles", "ciphertexts.0", "ciphertexts.0.sha256", "ciphertexts.0.recipients",
]
_VALID_ENVELOPE: Envelope | None = None


def _valid_envelope() -> Envelope:
    """One valid envelope, built once (hypothesis runs the test body many times)."""
    global _VALID_ENVELOPE
    if _VALID_ENVELOPE is None:
        party = Party.create("Fuzz")
        neg = Negotiation()
        neg.genesis(party)
        _VALID_ENVELOPE = neg.encrypted(party.head, "message", {"text": "fuzz"}, readers=party.devices,
                                        parties=[party.id], roles=["head"])
    return _VALID_ENVELOPE


def _only_parley_errors(call: Any) -> None:
    try:
        call()
    except ParleyError as err:
        assert isinstance(err, InputError | ProtocolError), type(err)  # LimitError is an InputError


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_header_from_obj_on_arbitrary_json_raises_only_parley_errors(value: Any) -> None:
    _only_parley_errors(lambda: Header.from_obj(value))
    _only_parley_errors(lambda: Envelope.from_obj(value))


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(_HEADER_PATHS), json_values)
def test_mutated_header_raises_only_parley_errors(path: str, value: Any) -> None:
    envelope = _valid_envelope()
    bad = _set(envelope.header.to_obj(), path, value)
    _only_parley_errors(lambda: Header.from_obj(bad))
    _only_parley_errors(lambda: Envelope.from_obj({**envelope.to_obj(), "header": bad}))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["header", "signature", "ciphertexts", "ciphertexts.0"]), json_values)
def test_mutated_envelope_raises_only_parley_errors(path: str, value: Any) -> None:
    bad = _set(_valid_envelope().to_obj(), path, value)
    _only_parley_errors(lambda: Envelope.from_obj(bad))
    _only_parley_errors(lambda: Envelope.from_json(json.dumps(bad)))


def test_leaf_bytes_fast_path_is_the_canonical_form():
    """The Merkle leaf is built from cached header bytes; it must equal RFC 8785 of {header, signature}."""
    from datetime import UTC, datetime

    from parley.crypto.canonical import canonical_bytes
    from parley.crypto.keys import SigningKey
    from parley.protocol.events import Audience, Envelope, build_header, sign_header

    key = SigningKey.generate()
    header = build_header(nonce=new_nonce(), negotiation="n-leaf-test", author=key.key_id, created=datetime.now(UTC),
                          audience=Audience(("p1",)), prev=None,
                          public={"type": "statement.public", "content": {"text": 'Ünïcödé "quoted" \\ \u2028'}})
    envelope = Envelope(header, sign_header(key, header), ())
    expected = canonical_bytes({"header": header.to_obj(), "signature": envelope.signature})
    assert envelope.leaf_bytes() == expected
    odd = Envelope(header, 'not "base64"', ())
    assert odd.leaf_bytes() == canonical_bytes({"header": header.to_obj(), "signature": 'not "base64"'})


def test_wire_form_fast_path_round_trips_and_is_plain_json():
    import json
    from datetime import UTC, datetime

    from parley.crypto.keys import SigningKey
    from parley.protocol.events import Audience, CiphertextRef, Envelope, build_header, sign_header

    key = SigningKey.generate()
    blobs = (b"\x00\xff" * 100, None)
    import hashlib

    refs = (CiphertextRef(hashlib.sha256(blobs[0]).hexdigest(), ("a" * 32,)),
            CiphertextRef(hashlib.sha256(b"withheld").hexdigest(), ("b" * 32,)))
    header = build_header(nonce=new_nonce(), negotiation="n-wire-test", author=key.key_id, created=datetime.now(UTC),
                          audience=Audience(("p1",)), prev=None, ciphertexts=refs)
    envelope = Envelope(header, sign_header(key, header), blobs)
    wire = envelope.to_json()
    assert json.loads(wire) == envelope.to_obj()
    again = Envelope.from_json(wire)
    assert again == envelope and again.event_id == envelope.event_id


def test_public_event_with_audience_tags_is_refused(neg: Negotiation, alice: Party) -> None:
    """A version 2 public event is served whole to every member: tags on it would be a second, unchecked claim."""
    public = neg.public(alice.head, "statement.public", {"text": "hi"}, parties=[alice.id])
    header = {**public.header.to_obj(), "v": 2, "tags": None}
    assert Header.from_obj(header).to_obj() == header
    with pytest.raises(InputError, match="a public event carries no audience tags"):
        Header.from_obj({**header, "tags": [b64encode(b"t" * 16)]})
