"""The crypto recipes: keys, canonical JSON, age sealing, fingerprints, keystore."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parley.crypto import keystore
from parley.crypto.canonical import canonical_bytes, canonical_sha256, sign_canonical, verify_canonical
from parley.crypto.fingerprint import fingerprint_digits, fingerprint_matches, parse_fingerprint
from parley.crypto.keys import (
    EncryptionKey,
    SigningKey,
    b64decode,
    b64encode,
    check_recipient,
    key_id,
    load_public_key,
    verify_bytes,
)
from parley.crypto.seal import open_sealed, open_stream, seal, seal_stream, sha256_hex
from parley.errors import (
    BadPassphraseError,
    ConfigError,
    InputError,
    KeystoreError,
    SignatureError,
    VerificationError,
)

# ---- keys -----------------------------------------------------------------------------------------


def test_sign_verify_round_trip() -> None:
    key = SigningKey.generate()
    signature = key.sign(b"memorandum")
    assert len(b64decode(signature)) == 64
    verify_bytes(key.public_b64, b"memorandum", signature)


def test_tampered_message_signature_or_key_is_rejected() -> None:
    key, other = SigningKey.generate(), SigningKey.generate()
    signature = key.sign(b"memorandum")
    raw = bytearray(b64decode(signature))
    raw[0] ^= 1
    for public, message, sig in [
        (key.public_b64, b"memorandun", signature),
        (key.public_b64, b"memorandum", b64encode(bytes(raw))),
        (other.public_b64, b"memorandum", signature),
        (key.public_b64, b"memorandum", "not base64"),
        ("AAAA", b"memorandum", signature),  # malformed key
        (key.public_b64, b"memorandum", b64encode(bytes(63))),
    ]:
        with pytest.raises(SignatureError):
            verify_bytes(public, message, sig)


def test_seed_round_trip_and_key_id() -> None:
    key = SigningKey.generate()
    again = SigningKey.from_seed_b64(key.seed_b64())
    assert again.public_b64 == key.public_b64
    assert re.fullmatch(r"[0-9a-f]{32}", key.key_id)
    assert key_id(key.public_b64) == key.key_id
    assert SigningKey.generate().key_id != key.key_id
    with pytest.raises(InputError):
        SigningKey.from_seed_b64(b64encode(bytes(31)))


def test_known_key_vector() -> None:
    # RFC 8032 section 7.1, test 1: secret key 9d61b19d..., public key d75a9801...
    seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    key = SigningKey.from_seed_b64(b64encode(seed))
    assert b64decode(key.public_b64).hex() == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    assert b64decode(key.sign(b"")).hex().startswith("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065")


def test_load_public_key_refuses_wrong_length() -> None:
    with pytest.raises(InputError, match="32 bytes"):
        load_public_key(b64encode(bytes(31)))
    with pytest.raises(InputError):
        key_id("nope")


@pytest.mark.parametrize(
    "text",
    ["QQ", "QR==", "QQ==\n", " QQ==", "Q Q==", "QQ=", "QQ===", "é", "QQ==QQ==", "-_8=", 7, None, b"QQ=="],
)
def test_b64decode_is_strict(text: object) -> None:
    with pytest.raises(InputError):
        b64decode(text)  # type: ignore[arg-type]


def test_b64decode_accepts_canonical() -> None:
    assert b64decode("QQ==") == b"A"
    assert b64decode("") == b""
    assert b64decode("+/8=") == b"\xfb\xff"


def test_encryption_key_and_recipient_check() -> None:
    key = EncryptionKey.generate()
    assert key.identity.startswith("AGE-SECRET-KEY-1")
    assert key.recipient.startswith("age1")
    assert check_recipient(key.recipient) == key.recipient
    for bad in ("age1", "age1qqqq", key.identity, "ssh-ed25519 AAAA", "", 5):
        with pytest.raises(InputError):
            check_recipient(bad)  # type: ignore[arg-type]


# ---- canonical JSON (RFC 8785) --------------------------------------------------------------------


def test_canonical_sorts_keys_by_utf16_code_units() -> None:
    # RFC 8785 section 3.2.3: the sorting example.
    value = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    expected = (
        '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis",'
        '"\u20ac":"Euro Sign","\U0001f600":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}'
    )
    assert canonical_bytes(value) == expected.encode("utf-8")


def test_canonical_string_escaping() -> None:
    # RFC 8785 section 3.2.2.2: "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/"
    value = "\u20ac$\u000f\u000aA'\u0042\u0022\u005c\\\"/"
    assert canonical_bytes(value) == '"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"'.encode()
    assert canonical_bytes("\x00\x08\t\x1f\x7f") == b'"\\u0000\\b\\t\\u001f\x7f"'


def test_canonical_structure_and_literals() -> None:
    value = {"b": [True, False, None, 0, -1, 9007199254740991], "a": {"z": "", "y": []}, "": {}}
    assert canonical_bytes(value) == b'{"":{},"a":{"y":[],"z":""},"b":[true,false,null,0,-1,9007199254740991]}'
    assert canonical_bytes(("tuple", 1)) == b'["tuple",1]'
    assert canonical_sha256({"a": 1}) == sha256_hex(b'{"a":1}')


@pytest.mark.parametrize("value", [1.5, 1.0, {"x": [0.1]}, float("nan"), {"n": 2**53}, [-(2**53)], 10**30])
def test_canonical_refuses_floats_and_huge_integers(value: object) -> None:
    with pytest.raises(InputError):
        canonical_bytes(value)


@pytest.mark.parametrize("value", [{1: "a"}, b"bytes", {"s": {1, 2}}, object()])
def test_canonical_refuses_non_json(value: object) -> None:
    with pytest.raises(InputError):
        canonical_bytes(value)


def test_canonical_refuses_deep_nesting() -> None:
    value: object = "leaf"
    for _ in range(40):
        value = [value]
    with pytest.raises(InputError, match="too deep"):
        canonical_bytes(value)


def test_sign_canonical_is_independent_of_key_order() -> None:
    key = SigningKey.generate()
    signature = sign_canonical(key, {"a": 1, "b": "two"})
    verify_canonical(key.public_b64, {"b": "two", "a": 1}, signature)
    with pytest.raises(SignatureError):
        verify_canonical(key.public_b64, {"b": "two", "a": 2}, signature)
    with pytest.raises(InputError):
        sign_canonical(key, {"price": 1.25})


# ---- age sealing ------------------------------------------------------------------------------------


def test_seal_to_three_recipients_each_can_open_a_fourth_cannot() -> None:
    keys = [EncryptionKey.generate() for _ in range(4)]
    plaintext = b"position on issue 3: reserve"
    ciphertext = seal(plaintext, [k.recipient for k in keys[:3]])
    assert ciphertext.startswith(b"age-encryption.org/v1\n")
    for key in keys[:3]:
        assert open_sealed(ciphertext, key) == plaintext
    with pytest.raises(VerificationError):
        open_sealed(ciphertext, keys[3])


def test_seal_is_randomised_and_corruption_is_detected() -> None:
    key = EncryptionKey.generate()
    one, two = seal(b"x", [key.recipient]), seal(b"x", [key.recipient])
    assert one != two
    corrupt = bytearray(one)
    corrupt[-1] ^= 1
    with pytest.raises(VerificationError):
        open_sealed(bytes(corrupt), key)
    for garbage in (b"", b"not age", one[:40]):
        with pytest.raises(VerificationError):
            open_sealed(garbage, key)


def test_seal_refuses_no_or_bad_recipients() -> None:
    with pytest.raises(InputError, match="nobody"):
        seal(b"x", [])
    with pytest.raises(InputError):
        seal(b"x", ["age1notarecipient"])
    with pytest.raises(InputError):
        seal(b"x", [EncryptionKey.generate().identity])


def test_streaming_seal_of_5_mb() -> None:
    keys = [EncryptionKey.generate() for _ in range(2)]
    outsider = EncryptionKey.generate()
    plaintext = os.urandom(5 * 1024 * 1024)
    sealed = io.BytesIO()
    seal_stream(io.BytesIO(plaintext), sealed, [k.recipient for k in keys])
    ciphertext = sealed.getvalue()
    assert len(ciphertext) > len(plaintext)
    for key in keys:
        opened = io.BytesIO()
        open_stream(io.BytesIO(ciphertext), opened, key)
        assert opened.getvalue() == plaintext
    assert open_sealed(ciphertext, keys[0]) == plaintext  # the same format as the one-shot API
    with pytest.raises(VerificationError):
        open_stream(io.BytesIO(ciphertext), io.BytesIO(), outsider)
    with pytest.raises(InputError):
        seal_stream(io.BytesIO(b"x"), io.BytesIO(), [])


# ---- fingerprints -----------------------------------------------------------------------------------


def test_fingerprint_is_stable_and_shaped() -> None:
    key = SigningKey.generate()
    digits = fingerprint_digits(key.public_b64)
    assert re.fullmatch(r"\d{5}( \d{5}){5}", digits)
    assert fingerprint_digits(key.public_b64) == digits
    assert fingerprint_digits(SigningKey.generate().public_b64) != digits
    assert parse_fingerprint(digits) == digits
    with pytest.raises(InputError):
        fingerprint_digits("not base64")


def test_fingerprint_pinned_vector() -> None:
    # A change of the derivation would silently break every fingerprint already printed or compared.
    zero = b64encode(bytes(32))
    digest = hashlib.sha512(b"parley-fingerprint-v1\x00" + bytes(32)).digest()
    expected = " ".join(f"{int.from_bytes(digest[i * 5:i * 5 + 5], 'big') % 100000:05d}" for i in range(6))
    assert fingerprint_digits(zero) == expected == "22913 90761 47649 53491 75679 73294"


def test_parse_fingerprint_accepts_spaces_dashes_newlines() -> None:
    key = SigningKey.generate()
    digits = fingerprint_digits(key.public_b64)
    compact = digits.replace(" ", "")
    for typed in (digits, compact, "-".join(digits.split()), f"  {digits[:17]}\n{digits[17:]}\t",
                  "\r\n".join(digits.split())):
        assert parse_fingerprint(typed) == digits
        assert fingerprint_matches(key.public_b64, typed)
    assert not fingerprint_matches(SigningKey.generate().public_b64, digits)


@pytest.mark.parametrize(
    "typed",
    ["1" * 29, "1" * 31, "", "12345 67890 12345 67890 12345 6789a", "abcde " * 6, "12345.67890" + "1" * 20,
     "١" * 30, "1" * 30 + " " * 200],
)
def test_parse_fingerprint_rejects(typed: str) -> None:
    with pytest.raises(InputError):
        parse_fingerprint(typed)


def test_parse_fingerprint_rejects_non_strings() -> None:
    for value in (None, 123456789012345678901234567890, b"1" * 30):
        with pytest.raises(InputError):
            parse_fingerprint(value)  # type: ignore[arg-type]


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=250) | st.from_regex(r"[0-9 \-\n]{0,60}", fullmatch=True))
def test_parse_fingerprint_raises_input_error_or_returns_six_groups(text: str) -> None:
    try:
        parsed = parse_fingerprint(text)
    except InputError:
        return
    groups = parsed.split(" ")
    assert len(groups) == 6
    assert all(len(g) == 5 and g.isascii() and g.isdigit() for g in groups)
    assert parse_fingerprint(parsed) == parsed


# ---- keystore -------------------------------------------------------------------------------------


def test_keystore_round_trip_and_wrong_passphrase(tmp_path: Path) -> None:
    # SLOW: costs ~5 s (scrypt: one save ~3 s, two loads ~1 s each). The suite's only scrypt test; keep it so.
    path = tmp_path / "profile" / "keystore.age"
    secrets = {"signing": SigningKey.generate().seed_b64(), "encryption": EncryptionKey.generate().identity}
    keystore.save_keystore(path, secrets, "correct horse")
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_bytes().startswith(b"age-encryption.org/v1\n-> scrypt ")
    assert not path.with_suffix(".age.tmp").exists()
    assert keystore.load_keystore(path, "correct horse") == secrets
    with pytest.raises(BadPassphraseError):
        keystore.load_keystore(path, "wrong horse")


def _scrypt_header_file(log_work_factor: int) -> bytes:
    """An age scrypt file whose stanza asks for 2**log_work_factor (body and MAC random: never reached)."""
    def b64(n: int) -> bytes:
        return base64.b64encode(os.urandom(n)).rstrip(b"=")
    return (b"age-encryption.org/v1\n-> scrypt " + b64(16) + b" %d\n" % log_work_factor + b64(32) + b"\n--- "
            + b64(32) + b"\n" + os.urandom(48))


def test_busy_machine_is_not_reported_as_wrong_passphrase(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # age refuses a work factor far above what it measures of the machine; under heavy load that happens to
    # a keystore written while the machine was idle. The person must not be told their passphrase is wrong.
    monkeypatch.setattr(keystore, "BUSY_MACHINE_PAUSE_SECONDS", 0)
    path = tmp_path / "keystore.age"
    path.write_bytes(_scrypt_header_file(40))
    with pytest.raises(KeystoreError, match="too busy") as caught:
        keystore.load_keystore(path, "correct horse")
    assert not isinstance(caught.value, BadPassphraseError)


def test_keystore_cheap_failures(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        keystore.save_keystore(tmp_path / "k.age", {}, "")
    with pytest.raises(KeystoreError, match="cannot read"):
        keystore.load_keystore(tmp_path / "missing.age", "x")
    garbage = tmp_path / "garbage.age"
    garbage.write_bytes(b"this is not an age file")
    with pytest.raises(KeystoreError):
        keystore.load_keystore(garbage, "x")
    # a file sealed to an X25519 recipient is not a passphrase keystore
    x25519 = tmp_path / "x25519.age"
    x25519.write_bytes(seal(b"{}", [EncryptionKey.generate().recipient]))
    with pytest.raises(KeystoreError):
        keystore.load_keystore(x25519, "x")


def test_passphrase_from_env_or_prompt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(keystore.PASSPHRASE_ENV, "from-env")
    assert keystore.passphrase_from_env_or_prompt() == "from-env"
    monkeypatch.delenv(keystore.PASSPHRASE_ENV)
    monkeypatch.setattr(keystore.os, "isatty", lambda fd: False)
    with pytest.raises(ConfigError, match="PARLEY_PASSPHRASE"):
        keystore.passphrase_from_env_or_prompt()
    monkeypatch.setattr(keystore.os, "isatty", lambda fd: True)
    answers = iter(["one", "two"])
    monkeypatch.setattr(keystore.getpass, "getpass", lambda prompt: next(answers))
    with pytest.raises(ConfigError, match="differ"):
        keystore.passphrase_from_env_or_prompt(confirm=True)
    monkeypatch.setattr(keystore.getpass, "getpass", lambda prompt: "")
    with pytest.raises(ConfigError, match="empty"):
        keystore.passphrase_from_env_or_prompt()


def test_b64_helpers_agree_with_stdlib() -> None:
    data = os.urandom(33)
    assert b64encode(data) == base64.b64encode(data).decode()
    assert b64decode(b64encode(data)) == data


from hypothesis import given as _given  # noqa: E402
from hypothesis import settings as _settings  # noqa: E402
from hypothesis import strategies as _st  # noqa: E402

_json_scalars = _st.one_of(_st.none(), _st.booleans(), _st.integers(min_value=-(2**53 - 1), max_value=2**53 - 1),
                           _st.text(alphabet=_st.characters(blacklist_categories=("Cs",)), max_size=30))
_json_values = _st.recursive(_json_scalars, lambda children: _st.one_of(
    _st.lists(children, max_size=5),
    _st.dictionaries(_st.text(alphabet=_st.characters(blacklist_categories=("Cs",)), max_size=8), children,
                     max_size=5)), max_leaves=25)


@_settings(max_examples=400, deadline=None)
@_given(_json_values)
def test_canonical_fast_path_equals_rfc8785(value):
    """The orjson fast path and the reference RFC 8785 encoder agree byte for byte."""
    import rfc8785

    from parley.crypto.canonical import canonical_bytes

    assert canonical_bytes(value) == rfc8785.dumps(value)


def test_canonical_escapes_control_characters_like_rfc8785():
    import rfc8785

    from parley.crypto.canonical import canonical_bytes

    text = "".join(chr(c) for c in range(0x20)) + "\x7f\"\\/\u2028\u2029é\U0001f600"
    value = {"z": text, "a": [text], "é": 1, "\U0001f600": 2, "\ue000": 3}
    assert canonical_bytes(value) == rfc8785.dumps(value)


@pytest.mark.parametrize("leaf", ["s", 1, None, [], {}])
def test_canonical_nesting_limit_is_33_levels_whatever_the_leaf(leaf):
    from parley.crypto.canonical import canonical_bytes

    def nest(levels):
        value = leaf
        for _ in range(levels):
            value = [value]
        return value

    canonical_bytes(nest(32))
    canonical_bytes({"a": nest(31)})
    with pytest.raises(InputError, match="too deep"):
        canonical_bytes(nest(33))
    with pytest.raises(InputError, match="too deep"):
        canonical_bytes({"a": nest(32)})
