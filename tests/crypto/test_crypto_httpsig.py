"""RFC 9421 request signatures: round trip and the attacks the relay must refuse."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from http_message_signatures import HTTPMessageSigner, MappingKeyResolver, algorithms

from parley.crypto.httpsig import (
    MAX_AGE_SECONDS,
    SIGNED_COMPONENTS,
    TAG,
    VerifiedRequest,
    sign_request,
    verify_request,
)
from parley.errors import AuthError, InputError, StorageError

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
URL = "https://relay.example:8443/v1/rooms/r1/events?since=42&limit=10"
BODY = b'{"kind":"message","text":"hello"}'
KEY_ID = "dev_alice_1"


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def _resolver(key: Ed25519PrivateKey) -> Callable[[str], Ed25519PublicKey | None]:
    return {KEY_ID: key.public_key()}.get


def _signed(key: Ed25519PrivateKey, *, method: str = "POST", url: str = URL, body: bytes = BODY) -> httpx.Request:
    request = httpx.Request(method, url, content=body)
    sign_request(request, key_id=KEY_ID, private_key=key, now=T0, nonce="n-123")
    return request


def _verify(request: httpx.Request, key: Ed25519PrivateKey, **overrides) -> VerifiedRequest:
    args = {
        "method": request.method,
        "url": str(request.url),
        "headers": request.headers,
        "body": request.content,
        "resolve_key": _resolver(key),
        "now": T0 + timedelta(seconds=5),
    }
    args.update(overrides)
    return verify_request(**args)


def test_signed_request_round_trip(key: Ed25519PrivateKey) -> None:
    request = _signed(key)
    assert request.headers["content-digest"] == "sha-256=:" + base64.b64encode(hashlib.sha256(BODY).digest()).decode() + ":"
    sig_input = request.headers["signature-input"]
    assert sig_input.startswith('parley=("@method" "@authority" "@path" "@query" "content-digest")')
    assert f'tag="{TAG}"' in sig_input and 'nonce="n-123"' in sig_input and f'keyid="{KEY_ID}"' in sig_input
    verified = _verify(request, key)
    assert verified == VerifiedRequest(key_id=KEY_ID, nonce="n-123", created=int(T0.timestamp()))


def test_headers_as_field_line_list_are_accepted(key: Ed25519PrivateKey) -> None:
    request = _signed(key)
    assert _verify(request, key, headers=list(request.headers.multi_items())).key_id == KEY_ID


def test_empty_body_is_still_covered_by_digest(key: Ed25519PrivateKey) -> None:
    request = httpx.Request("GET", "https://relay.example/v1/rooms", content=b"")
    sign_request(request, key_id=KEY_ID, private_key=key, now=T0)
    assert "content-digest" in request.headers
    verified = _verify(request, key, body=b"")
    assert len(verified.nonce) >= 16  # random nonce from secrets.token_urlsafe(16)
    with pytest.raises(AuthError):
        _verify(request, key, body=b"smuggled")


def test_streamed_body_is_read_and_digested(key: Ed25519PrivateKey) -> None:
    request = httpx.Request("PUT", URL, content=iter([b'{"kind":', b'"message"}']))
    sign_request(request, key_id=KEY_ID, private_key=key, now=T0)
    assert request.content == b'{"kind":"message"}'
    _verify(request, key)


def test_request_can_be_signed_again_with_a_fresh_nonce(key: Ed25519PrivateKey) -> None:
    request = _signed(key)
    sign_request(request, key_id=KEY_ID, private_key=key, now=T0)
    assert len(request.headers.get_list("signature")) == 1
    assert _verify(request, key).nonce != "n-123"


def test_nonces_are_random(key: Ed25519PrivateKey) -> None:
    nonces = set()
    for _ in range(3):
        request = httpx.Request("GET", URL)
        sign_request(request, key_id=KEY_ID, private_key=key, now=T0)
        nonces.add(_verify(request, key, body=b"").nonce)
    assert len(nonces) == 3


def test_forged_request_signature_is_rejected(key: Ed25519PrivateKey) -> None:
    request = _signed(key)
    forged = request.headers["signature"].replace("parley=:", "parley=:AAAA", 1)
    request.headers["signature"] = forged
    with pytest.raises(AuthError, match="signature does not verify"):
        _verify(request, key)


def test_request_signed_by_another_key_is_rejected(key: Ed25519PrivateKey) -> None:
    request = _signed(Ed25519PrivateKey.generate())
    with pytest.raises(AuthError, match="does not verify"):
        _verify(request, key)


def test_request_with_swapped_body_is_rejected(key: Ed25519PrivateKey) -> None:
    request = _signed(key)
    with pytest.raises(AuthError, match="Content-Digest"):
        _verify(request, key, body=b'{"kind":"message","text":"evil"}')


def test_request_with_swapped_body_and_digest_header_is_rejected(key: Ed25519PrivateKey) -> None:
    evil = b'{"kind":"message","text":"evil"}'
    request = _signed(key)
    request.headers["content-digest"] = "sha-256=:" + base64.b64encode(hashlib.sha256(evil).digest()).decode() + ":"
    with pytest.raises(AuthError, match="does not verify"):
        _verify(request, key, body=evil)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("method", "DELETE"),
        ("url", "https://relay.example:8443/v1/rooms/r2/events?since=42&limit=10"),  # path
        ("url", "https://relay.example:8443/v1/rooms/r1/events?since=0&limit=10"),  # query
        ("url", "https://relay.example:8443/v1/rooms/r1/events"),  # query dropped
        ("url", "https://evil.example:8443/v1/rooms/r1/events?since=42&limit=10"),  # authority
    ],
)
def test_request_with_rewritten_target_is_rejected(key: Ed25519PrivateKey, field: str, value: str) -> None:
    with pytest.raises(AuthError, match="does not verify"):
        _verify(_signed(key), key, **{field: value})


def test_expired_request_signature_is_rejected(key: Ed25519PrivateKey) -> None:
    request = _signed(key)
    _verify(request, key, now=T0 + timedelta(seconds=MAX_AGE_SECONDS))  # at the limit: still fine
    with pytest.raises(AuthError, match="expired"):
        _verify(request, key, now=T0 + timedelta(minutes=6))


def test_request_signature_from_the_future_is_rejected(key: Ed25519PrivateKey) -> None:
    request = _signed(key)
    _verify(request, key, now=T0 - timedelta(seconds=30))  # within the 60 s clock skew
    with pytest.raises(AuthError, match="future"):
        _verify(request, key, now=T0 - timedelta(minutes=2))


def test_request_signed_by_unknown_key_is_rejected(key: Ed25519PrivateKey) -> None:
    request = _signed(key)
    with pytest.raises(AuthError, match="unknown or revoked device key"):
        _verify(request, key, resolve_key=lambda key_id: None)


def test_key_lookup_failure_is_not_reported_as_bad_signature(key: Ed25519PrivateKey) -> None:
    def broken(key_id: str) -> Ed25519PublicKey | None:
        raise StorageError("database down")

    with pytest.raises(StorageError):
        _verify(_signed(key), key, resolve_key=broken)


def test_unsigned_request_is_rejected(key: Ed25519PrivateKey) -> None:
    request = httpx.Request("POST", URL, content=BODY)
    with pytest.raises(AuthError, match="not signed"):
        _verify(request, key)


def test_naive_clock_is_refused(key: Ed25519PrivateKey) -> None:
    with pytest.raises(InputError):
        sign_request(httpx.Request("GET", URL), key_id=KEY_ID, private_key=key, now=datetime(2025, 1, 1))


# --- requests signed by hand with the library, as a non-parley client could ---------------------


@dataclass
class _Raw:
    method: str
    url: str
    headers: httpx.Headers


def _library_signed(
    key: Ed25519PrivateKey, *, components: Sequence[str], nonce: str | None, tag: str = TAG, body: bytes | None = BODY
) -> _Raw:
    message = _Raw("POST", URL, httpx.Headers({"host": "relay.example:8443"}))
    signer = HTTPMessageSigner(
        signature_algorithm=algorithms.ED25519,
        key_resolver=MappingKeyResolver(public_keys={}, private_keys={KEY_ID: key}),
    )
    signer.sign(
        message, key_id=KEY_ID, created=T0, nonce=nonce, tag=tag, label="parley",
        covered_component_ids=components, body=body,
    )
    return message


def _verify_raw(message: _Raw, key: Ed25519PrivateKey, body: bytes = BODY) -> VerifiedRequest:
    return verify_request(
        method=message.method, url=message.url, headers=message.headers, body=body,
        resolve_key=_resolver(key), now=T0,
    )


def test_independent_library_client_is_accepted(key: Ed25519PrivateKey) -> None:
    message = _library_signed(key, components=SIGNED_COMPONENTS, nonce="abc")
    assert _verify_raw(message, key).nonce == "abc"


def test_request_signature_without_nonce_is_rejected(key: Ed25519PrivateKey) -> None:
    message = _library_signed(key, components=SIGNED_COMPONENTS, nonce=None)
    with pytest.raises(AuthError, match="nonce"):
        _verify_raw(message, key)


def test_request_with_uncovered_content_digest_is_rejected(key: Ed25519PrivateKey) -> None:
    # Content-Digest is present and correct, but the signature does not cover it,
    # so a man in the middle could swap body and digest together.
    message = _library_signed(key, components=SIGNED_COMPONENTS[:-1], nonce="abc", body=None)
    message.headers["content-digest"] = "sha-256=:" + base64.b64encode(hashlib.sha256(BODY).digest()).decode() + ":"
    with pytest.raises(AuthError, match="content-digest"):
        _verify_raw(message, key)


def test_request_signature_missing_a_required_component_is_rejected(key: Ed25519PrivateKey) -> None:
    message = _library_signed(key, components=("@method", "@authority", "@path"), nonce="abc")
    with pytest.raises(AuthError, match="@query"):
        _verify_raw(message, key)


def test_signature_for_another_application_is_rejected(key: Ed25519PrivateKey) -> None:
    message = _library_signed(key, components=SIGNED_COMPONENTS, nonce="abc", tag="other-app")
    with pytest.raises(AuthError, match="tag"):
        _verify_raw(message, key)
