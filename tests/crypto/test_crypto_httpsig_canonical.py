"""The canonical-shape shortcut of request verification against ``http-message-signatures``.

``verify_request`` accepts a request in parley's one signing shape without the general RFC 9421 parser.
These tests hold it to one rule: whatever the shortcut accepts, the library accepts too, with the same
key id, nonce and time; and requests that parley clients sign really take the shortcut (otherwise the
speed-up, and this test, would be empty).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parley.crypto import httpsig
from parley.crypto.httpsig import sign_request, verify_request
from parley.errors import AuthError

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
KEY = Ed25519PrivateKey.generate()
OTHER = Ed25519PrivateKey.generate()
KEY_ID = "dev_alice-1"
RESOLVE = {KEY_ID: KEY.public_key()}.get

_path_segment = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.~", min_size=1, max_size=12)
_query = st.one_of(st.none(), st.lists(st.sampled_from(["a", "z", "0", "9", "=", "&", "+", "-", ".", "_", "%20", "%2F"]),
                                       max_size=12).map("".join))


@st.composite
def _requests(draw: st.DrawFn) -> httpx.Request:
    scheme = draw(st.sampled_from(["http", "https"]))
    host = draw(st.sampled_from(["127.0.0.1", "relay.example", "Relay.Example", "localhost"]))
    port = draw(st.sampled_from(["", ":80", ":443", ":8443", ":5000"]))
    path = "/" + "/".join(draw(st.lists(_path_segment, min_size=0, max_size=4)))
    query = draw(_query)
    url = f"{scheme}://{host}{port}{path}" + ("" if query is None else f"?{query}")
    method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE"]))
    body = draw(st.binary(max_size=64)) if method in ("POST", "PUT") else b""
    request = httpx.Request(method, url, content=body)
    nonce = draw(st.text(alphabet="abcXYZ019-_", min_size=1, max_size=24))
    sign_request(request, key_id=KEY_ID, private_key=KEY, now=T0, nonce=nonce)
    return request


def _args(request: httpx.Request) -> dict:
    return {"method": request.method, "url": str(request.url), "lines": list(request.headers.items()),
            "body": request.content, "resolve_key": RESOLVE}


def _shortcut(args: dict, now: datetime = T0) -> httpsig.VerifiedRequest | None:
    return httpsig._accept_canonical(args["method"], args["url"], args["lines"], args["body"], args["resolve_key"],
                                     int(now.timestamp()), httpsig.MAX_AGE_SECONDS)


def _library(args: dict, now: datetime = T0) -> httpsig.VerifiedRequest | AuthError:
    try:
        return httpsig._verify_general(args["method"], args["url"], args["lines"], args["body"],
                                       args["resolve_key"], now, httpsig.MAX_AGE_SECONDS)
    except AuthError as exc:
        return exc


@settings(max_examples=150, deadline=None, derandomize=True)
@given(_requests())
def test_requests_signed_by_parley_take_the_shortcut_and_the_library_agrees(request: httpx.Request) -> None:
    args = _args(request)
    fast = _shortcut(args)
    assert fast is not None, args["url"]
    assert fast == _library(args)


def _mutations(args: dict) -> list[tuple[str, dict]]:
    """Each returns a copy of the request changed in one place, as a relay-side attacker or a broken client would."""
    out: list[tuple[str, dict]] = []
    lines = args["lines"]
    for index, (name, value) in enumerate(lines):
        if name.lower() not in ("signature", "signature-input", "content-digest"):
            continue
        for position in range(0, len(value), max(1, len(value) // 12)):
            for replacement in ("A", "0", " ", '"', ";", "="):
                changed = value[:position] + replacement + value[position + 1:]
                if changed != value:
                    edited = [*lines[:index], (name, changed), *lines[index + 1:]]
                    out.append((f"{name}@{position}={replacement!r}", {**args, "lines": edited}))
        out.append((f"{name} repeated", {**args, "lines": [*lines, (name, value)]}))
        out.append((f"{name} removed", {**args, "lines": lines[:index] + lines[index + 1:]}))
        out.append((f"{name} uppercase name", {**args, "lines": [*lines[:index], (name.upper(), value),
                                                                  *lines[index + 1:]]}))
    out.append(("body changed", {**args, "body": args["body"] + b"x"}))
    out.append(("method changed", {**args, "method": "PUT" if args["method"] != "PUT" else "POST"}))
    out.append(("method lowercase", {**args, "method": args["method"].lower()}))
    url = args["url"]
    out.append(("path changed", {**args, "url": url.replace("/v1/", "/v2/", 1)}))
    out.append(("query added", {**args, "url": url + ("&x=1" if "?" in url else "?x=1")}))
    out.append(("host changed", {**args, "url": url.replace("relay.example", "evil.example", 1)}))
    out.append(("port changed", {**args, "url": url.replace(":8443", ":8444", 1)}))
    out.append(("other key", {**args, "resolve_key": {KEY_ID: OTHER.public_key()}.get}))
    out.append(("unknown key", {**args, "resolve_key": {}.get}))
    return out


@pytest.mark.parametrize("url", ["https://relay.example:8443/v1/negotiations/n-1/events",
                                 "http://127.0.0.1:8080/v1/negotiations/n-1/events?after=4&limit=10"])
def test_no_single_change_makes_the_shortcut_accept_what_the_library_refuses(url: str) -> None:
    request = httpx.Request("POST", url, content=b'{"header":{}}')
    sign_request(request, key_id=KEY_ID, private_key=KEY, now=T0, nonce="n-abc")
    original = _args(request)
    assert _shortcut(original) is not None
    checked = 0
    for label, args in _mutations(original):
        fast = _shortcut(args)
        slow = _library(args)
        if fast is not None:
            assert fast == slow, label
        if isinstance(slow, AuthError):
            assert fast is None, f"the shortcut accepted a request the library refuses: {label}"
            checked += 1
    assert checked > 100  # the mutations really produce refusals


@settings(max_examples=100, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(_requests(), st.integers(min_value=-400, max_value=400))
def test_the_shortcut_keeps_the_time_window(request: httpx.Request, offset: int) -> None:
    args = _args(request)
    now = T0 + timedelta(seconds=offset)
    fast = _shortcut(args, now)
    slow = _library(args, now)
    if isinstance(slow, AuthError):
        assert fast is None
    elif fast is not None:
        assert fast == slow


def test_verify_request_refuses_through_the_library_with_its_message() -> None:
    request = httpx.Request("POST", "https://relay.example/v1/x", content=b"{}")
    sign_request(request, key_id=KEY_ID, private_key=KEY, now=T0, nonce="n-1")
    with pytest.raises(AuthError, match="signature"):
        verify_request(method="POST", url=str(request.url), headers=request.headers, body=b"{}",
                       resolve_key={KEY_ID: OTHER.public_key()}.get, now=T0)
