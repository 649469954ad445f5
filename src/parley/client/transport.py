"""Signed requests to the relay. Any httpx transport works: sockets, or ``ASGITransport`` in tests."""

from __future__ import annotations

import json
from typing import Any

import httpx
import orjson

from parley.crypto.httpsig import sign_request
from parley.crypto.keys import SigningKey
from parley.errors import (
    ERRORS_BY_CODE,
    ParleyError,
    RelayError,
    RelayRefusal,
    TransportError,
    VerificationError,
)


def decode_answer(response: httpx.Response) -> Any:
    """The relay's JSON answer, decoded by ``orjson``: a page of 1,000 events (3.3 MB, mostly base64
    ciphertext) in ~8 ms against ~12 ms for the standard ``json`` (``docs/performance.md``). It also refuses
    what ``json`` would let through and nothing parley signs can hold: NaN, infinities, lone surrogates.

    Raises:
        RelayError: the answer is not JSON (a broken or hostile relay).
    """
    try:
        return orjson.loads(response.content)
    except (ValueError, RecursionError):  # orjson.JSONDecodeError is a ValueError; it refuses deep nesting too
        raise RelayError(f"the relay's answer ({response.status_code}) is not valid JSON",
                         status=response.status_code, code="bad_response") from None


def error_from_response(response: httpx.Response) -> ParleyError:
    """Turn a relay error body into the matching local error (``RelayError`` when unknown).

    A relay's verification verdict (``fork``, ``bad_signature``, ``protocol_violation``...) becomes a
    ``RelayRefusal``, never the client's own ``VerificationError`` of that name: only what this client
    checked itself may say that the relay lied."""
    try:
        body = response.json()
        code, message = body.get("error", "error"), body.get("message") or body.get("detail") or response.text
    except ValueError:
        code, message = "error", response.text[:200] or response.reason_phrase
    cls = ERRORS_BY_CODE.get(code)
    text = f"relay refused the request ({response.status_code}): {message}"
    if cls is None:
        return RelayError(text, status=response.status_code, code=str(code))
    if issubclass(cls, VerificationError):
        return RelayRefusal(text, status=response.status_code, relay_code=str(code))
    return cls(text)


class RelayConnection:
    """An httpx client whose every request is signed by one device key."""

    def __init__(self, base_url: str, key: SigningKey | None, *, transport: httpx.BaseTransport | None = None,
                 timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.key = key
        # A plain-HTTP relay (a local or test relay) needs no TLS context: building httpx's default one reads
        # the whole CA bundle, the largest single cost of a read command (docs/performance.md). Requests are
        # signed and bodies end-to-end encrypted either way; an https relay keeps full certificate checks.
        plain_http = self.base_url.lower().startswith("http://")
        self.http = httpx.Client(base_url=self.base_url, transport=transport, timeout=timeout,
                                 verify=not plain_http)

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, *, body: Any = None, raw: bytes | None = None,
                params: dict[str, Any] | None = None, signed: bool = True, key: SigningKey | None = None) -> Any:
        """Send a request and return the decoded JSON answer.

        Raises:
            TransportError: the relay is unreachable.
            ParleyError subclass: the relay's answer, mapped by its error code.
        """
        content = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        headers = {"Content-Type": "application/json"} if content else {}
        request = self.http.build_request(method, path, content=content, params=params, headers=headers)
        signer = key or self.key
        if signed and signer is not None:
            sign_request(request, key_id=signer.key_id, private_key=signer.private)
        try:
            response = self.http.send(request)
        except httpx.HTTPError as exc:
            raise TransportError(f"cannot reach the relay at {self.base_url}: {exc}") from None
        if response.status_code >= 400:
            raise error_from_response(response)
        return decode_answer(response) if response.content else None

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None})

    def post(self, path: str, body: Any = None, *, raw: bytes | None = None, key: SigningKey | None = None) -> Any:
        return self.request("POST", path, body=body, raw=raw, key=key)


class InProcessTransport(httpx.BaseTransport):
    """A synchronous httpx transport onto an ASGI app, through ``httpx.ASGITransport``.

    The app runs on an event loop in a background thread, so the synchronous
    client SDK can talk to an in-process relay with no sockets (tests, tools).
    Responses are read whole: live streams need a real socket.
    """

    def __init__(self, app: Any) -> None:
        import asyncio
        import threading

        self._asgi = httpx.ASGITransport(app=app)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="parley-asgi", daemon=True)
        self._thread.start()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        import asyncio

        async def call() -> httpx.Response:
            response = await self._asgi.handle_async_request(request)
            content = b"".join([chunk async for chunk in response.stream])
            return httpx.Response(response.status_code, headers=response.headers, content=content,
                                  request=request)

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result()

    def close(self) -> None:
        pass

    def shutdown(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
