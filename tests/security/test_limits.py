"""Limits and abuse: per-device rate limits, body size, slow clients, live-stream caps. Each answer is a clear error."""

from __future__ import annotations

import socket
import time
from dataclasses import replace

import httpx
import pytest

from conftest import served
from parley.crypto.httpsig import sign_request
from parley.errors import RateLimitError
from parley.relay.app import create_app
from parley.relay.limits import RateLimiter


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _signed(client, method: str, path: str, *, params: dict | None = None, content: bytes = b"") -> httpx.Request:  # noqa: ANN001
    request = client.conn.http.build_request(method, path, params=params, content=content,
                                             headers={"Content-Type": "application/json"} if content else {})
    sign_request(request, key_id=client.identity.device_key_id, private_key=client.identity.signing.private)
    return request


def _limited(world, rate: float, burst: int) -> FakeMonotonic:  # noqa: ANN001
    clock = FakeMonotonic()
    world.relay.rate_limiter = RateLimiter(rate, burst, clock=clock)
    return clock


# ---- rate limits ---------------------------------------------------------------------------------------
def test_token_bucket_refills_at_its_rate_and_caps_at_its_burst():
    clock = FakeMonotonic()
    bucket = RateLimiter(2.0, 3, clock=clock)
    for _ in range(3):
        bucket.take("a")
    with pytest.raises(RateLimitError) as info:
        bucket.take("a")
    assert info.value.retry_after == pytest.approx(0.5)
    bucket.take("b")  # another device has its own bucket
    clock.now += 0.5
    bucket.take("a")
    clock.now += 3600  # a long pause refills to the burst, not beyond
    for _ in range(3):
        bucket.take("a")
    with pytest.raises(RateLimitError):
        bucket.take("a")
    RateLimiter(0, 1).take("a")  # rate 0: disabled


def test_flooding_device_is_rate_limited_with_429_and_retry_after(talks):
    world, ukraine, russia, _turkiye, nid = talks
    clock = _limited(world, rate=1.0, burst=5)
    path = f"/v1/negotiations/{nid}/checkpoint"
    statuses = [ukraine.conn.http.send(_signed(ukraine, "GET", path)).status_code for _ in range(5)]
    assert statuses == [200] * 5
    refused = ukraine.conn.http.send(_signed(ukraine, "GET", path))
    assert refused.status_code == 429
    assert refused.json()["error"] == "rate_limited"
    assert "at most 1 per second" in refused.json()["message"]
    assert int(refused.headers["Retry-After"]) >= 1
    # A post is limited as well, and nothing is stored.
    size = world.store.head(nid).size
    with pytest.raises(RateLimitError, match="too many requests"):
        ukraine.conn.post(f"/v1/negotiations/{nid}/events", raw=b"{}")
    assert world.store.head(nid).size == size
    # Another member is not affected; the flooding device recovers once the bucket refilled.
    assert russia.conn.http.send(_signed(russia, "GET", path)).status_code == 200
    clock.now += 1.0
    assert ukraine.conn.http.send(_signed(ukraine, "GET", path)).status_code == 200


def test_anonymous_flood_does_not_drain_a_members_bucket(talks):
    world, ukraine, _russia, _turkiye, nid = talks
    _limited(world, rate=1.0, burst=2)
    path = f"/v1/negotiations/{nid}/checkpoint"
    with httpx.Client(transport=world.transport, base_url="http://relay") as http:
        for _ in range(20):  # unsigned, and signed with a forged key id: refused before the bucket
            assert http.get(path).status_code == 401
            forged = _signed(ukraine, "GET", path)
            forged.headers["Signature"] = forged.headers["Signature"][:-6] + "AAAA=:"
            assert http.send(forged).status_code == 401
    assert ukraine.conn.http.send(_signed(ukraine, "GET", path)).status_code == 200


# ---- body size and slow clients over a real socket ----------------------------------------------------------
def _raw_exchange(url: str, data_parts: list[bytes], timeout: float = 10.0) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        try:
            for part in data_parts:
                sock.sendall(part)
        except OSError:
            pass  # the server may close while we are still sending
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except OSError:
            pass
    return answer


def test_oversized_chunked_body_without_content_length_is_cut_off_with_413(talks):
    world, ukraine, _russia, _turkiye, nid = talks
    world.relay.limits = replace(world.relay.limits, max_request_bytes=64 * 1024)
    with served(create_app(world.relay)) as url:
        def chunks():
            for _ in range(64):
                yield b"x" * 4096  # 256 KiB, no Content-Length: counted while reading

        with httpx.Client(base_url=url, timeout=10) as http:
            response = http.post(f"/v1/negotiations/{nid}/events", content=chunks())
    assert response.status_code == 413
    assert response.json() == {"error": "over_limit", "message": "request body is over 65536 bytes"}


def test_slow_body_client_is_cut_off_with_408(talks):
    world, _ukraine, _russia, _turkiye, nid = talks
    world.relay.limits = replace(world.relay.limits, max_body_seconds=1.0)
    with served(create_app(world.relay)) as url:
        head = (f"POST /v1/negotiations/{nid}/events HTTP/1.1\r\nHost: relay\r\n"
                "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n").encode()
        host, port = url.removeprefix("http://").split(":")
        answer, started = b"", time.monotonic()
        with socket.create_connection((host, int(port)), timeout=0.2) as sock:
            sock.sendall(head)
            for _ in range(50):  # one byte every 0.2 s: would take 20 s to send the 100 bytes
                try:
                    sock.sendall(b"{")
                    answer += sock.recv(65536)
                except TimeoutError:
                    continue
                except OSError:
                    break
                if answer:
                    break
        elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b'"request_timeout"' in answer and b"did not arrive within 1 s" in answer
    assert elapsed < 3  # cut off at the 1 s deadline, not when the client finished or gave up


def test_oversized_request_headers_are_refused_by_the_http_parser(talks):
    """With uvicorn's h11 parser (``parley relay serve --http h11``) headers are capped at 16 KiB.

    (h11 refuses an unfinished header block over 16 KiB.) The httptools parser, uvicorn's default when installed,
    has no such cap: see docs/security.md."""
    world = talks[0]
    with served(create_app(world.relay), http="h11") as url:
        head = b"GET /healthz HTTP/1.1\r\nHost: relay\r\nX-Junk: " + b"a" * (1024 * 1024) + b"\r\n\r\n"
        answer = _raw_exchange(url, [head])
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]


# ---- live streams --------------------------------------------------------------------------------------
def test_too_many_live_streams_per_device_get_429(talks):
    world, ukraine, russia, _turkiye, nid = talks
    world.relay.limits = replace(world.relay.limits, max_streams_per_device=2)
    path = f"/v1/negotiations/{nid}/stream"
    with served(create_app(world.relay)) as url, httpx.Client(base_url=url, timeout=10) as http:
        def open_stream(client):  # noqa: ANN001
            request = http.build_request("GET", path, params={"after": 10_000})
            sign_request(request, key_id=client.identity.device_key_id, private_key=client.identity.signing.private)
            return http.send(request, stream=True)

        first, second = open_stream(ukraine), open_stream(ukraine)
        assert first.status_code == second.status_code == 200
        third = open_stream(ukraine)
        third.read()
        assert third.status_code == 429 and third.json()["error"] == "rate_limited"
        assert "at most 2 live streams per device" in third.json()["message"]
        assert int(third.headers["Retry-After"]) >= 1
        other = open_stream(russia)  # per device: another member still streams
        assert other.status_code == 200
        other.close()
        first.close()
        deadline = time.monotonic() + 5  # the relay notices the closed stream and frees its slot
        while time.monotonic() < deadline:
            again = open_stream(ukraine)
            if again.status_code == 200:
                again.close()
                break
            again.read()
            time.sleep(0.1)
        else:
            pytest.fail("a closed stream kept its slot")
        second.close()
