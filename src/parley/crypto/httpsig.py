"""RFC 9421 HTTP message signatures for parley requests (Ed25519, via http-message-signatures).

Every client request to the relay is signed by a device key. The signature covers
``SIGNED_COMPONENTS``; the body is always covered through a ``Content-Digest``
(RFC 9530, sha-256) header, even when empty, so a request cannot be replayed with
another body. Parameters: ``created``, ``keyid``, ``alg="ed25519"``, ``nonce`` and
``tag="parley-v1"``; label ``parley``. ``docs/interop.md`` describes the wire format.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from cryptography.exceptions import InvalidSignature as InvalidEd25519Signature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from http_message_signatures import (
    HTTPMessageSignaturesException,
    HTTPMessageSigner,
    HTTPMessageVerifier,
    HTTPSignatureKeyResolver,
    InvalidSignature,
    algorithms,
)

from parley.errors import AuthError, InputError

__all__ = [
    "LABEL",
    "MAX_AGE_SECONDS",
    "SIGNED_COMPONENTS",
    "TAG",
    "VerifiedRequest",
    "sign_request",
    "verify_request",
]

SIGNED_COMPONENTS = ("@method", "@authority", "@path", "@query", "content-digest")
TAG = "parley-v1"
LABEL = "parley"
MAX_AGE_SECONDS = 300
#: tolerated clock difference for a ``created`` time ahead of the verifier's clock
CLOCK_SKEW_SECONDS = 60

_SIGNATURE_HEADERS = ("content-digest", "signature-input", "signature")


@dataclass(frozen=True)
class VerifiedRequest:
    """What a verified signature vouches for: who signed, with which nonce, and when."""

    key_id: str
    nonce: str
    created: int


@dataclass
class _Message:
    """The request view the library reads: ``method``, absolute ``url``, ``headers.items()``.

    Lets the relay verify plain (method, url, headers, body) data without handing
    a framework object to the library, and lets signing write into httpx headers.
    """

    method: str
    url: str
    headers: Any


class _HeaderLines:
    """Read-only header view keeping repeated field lines; verification only calls items()."""

    def __init__(self, lines: Iterable[tuple[str, str]]) -> None:
        self._lines = list(lines)

    def items(self) -> list[tuple[str, str]]:
        return self._lines


class _KeyResolver(HTTPSignatureKeyResolver):
    """Signing: one private key. Verification: the caller's lookup, remembering misses."""

    def __init__(
        self,
        *,
        private_key: Ed25519PrivateKey | None = None,
        resolve_key: Callable[[str], Ed25519PublicKey | None] | None = None,
    ) -> None:
        self._private_key = private_key
        self._resolve_key = resolve_key
        self.unknown_key = False
        #: an error raised by the caller's lookup (e.g. StorageError), re-raised as is
        self.lookup_error: Exception | None = None

    def resolve_private_key(self, key_id: str) -> Ed25519PrivateKey:
        if self._private_key is None:
            raise InputError("no signing key configured")
        return self._private_key

    def resolve_public_key(self, key_id: str) -> Ed25519PublicKey | None:
        try:
            key = self._resolve_key(key_id) if self._resolve_key is not None else None
        except Exception as exc:
            # The library wraps everything into InvalidSignature; keep the original
            # so a database outage is not reported as a 401.
            self.lookup_error = exc
            raise
        # Only Ed25519 keys are device keys; anything else counts as unknown.
        if not isinstance(key, Ed25519PublicKey):
            self.unknown_key = True
            return None
        return key


class _ClockedVerifier(HTTPMessageVerifier):
    """The library reads the wall clock itself; we check created/expires against ``now``.

    ``validate_created_and_expires`` runs before the key is looked up and the
    signature checked, and its exceptions are not wrapped, so AuthError raised
    here reaches the caller as is.
    """

    def __init__(self, *, now: datetime, max_age_seconds: int, key_resolver: _KeyResolver) -> None:
        super().__init__(signature_algorithm=algorithms.ED25519, key_resolver=key_resolver)
        self._now = int(now.timestamp())
        self._max_age = max_age_seconds

    def validate_created_and_expires(self, sig_input: Any, max_age: Any = None) -> None:
        created = sig_input.params.get("created")
        if type(created) is not int:
            raise AuthError("request signature has no valid 'created' time")
        if created > self._now + CLOCK_SKEW_SECONDS:
            raise AuthError("request signature was created in the future; check the device clock")
        if self._now - created > self._max_age:
            raise AuthError(f"request signature expired (older than {self._max_age} s); check the device clock")
        expires = sig_input.params.get("expires")
        if expires is not None and (type(expires) is not int or expires < self._now):
            raise AuthError("request signature expired")


def _utc_now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        # A naive time would be read in the local zone and shift `created`.
        raise InputError("now must be a timezone-aware datetime")
    return now


def sign_request(
    request: httpx.Request,
    *,
    key_id: str,
    private_key: Ed25519PrivateKey,
    now: datetime | None = None,
    nonce: str | None = None,
) -> None:
    """Sign ``request`` in place: add Content-Digest, Signature-Input and Signature.

    The body is read first so the digest covers exactly the bytes httpx will send
    (a streaming body is buffered). Existing digest/signature headers are replaced,
    so a retried request can be signed again with a fresh nonce.

    Raises:
        InputError: ``now`` is naive, ``key_id`` is empty, or the request cannot be
            signed (e.g. a lowercase method or a URL the library rejects).
    """
    if not key_id:
        raise InputError("key_id must not be empty")
    created = _utc_now(now)
    body = request.read()
    for name in _SIGNATURE_HEADERS:
        if name in request.headers:
            del request.headers[name]
    signer = HTTPMessageSigner(signature_algorithm=algorithms.ED25519, key_resolver=_KeyResolver(private_key=private_key))
    try:
        signer.sign(
            _Message(method=request.method, url=str(request.url), headers=request.headers),
            key_id=key_id,
            created=created,
            nonce=nonce if nonce is not None else secrets.token_urlsafe(16),
            label=LABEL,
            tag=TAG,
            covered_component_ids=SIGNED_COMPONENTS,
            body=body,
        )
    except HTTPMessageSignaturesException as exc:
        raise InputError(f"cannot sign request: {exc}") from exc


def verify_request(
    *,
    method: str,
    url: str,
    headers: Mapping[str, str] | list[tuple[str, str]],
    body: bytes,
    resolve_key: Callable[[str], Ed25519PublicKey | None],
    now: datetime | None = None,
    max_age_seconds: int = MAX_AGE_SECONDS,
) -> VerifiedRequest:
    """Verify the ``parley-v1`` signature of a received request.

    ``url`` must be the absolute URL as the client addressed it (scheme, public
    host[:port], path and raw query), since ``@authority``, ``@path`` and ``@query``
    are signed; a relay behind a proxy must rebuild it from its public origin.
    ``headers`` may be a mapping or a list of field lines (a Starlette ``Headers``
    works as is). ``body`` is the raw request body before content decoding.
    ``resolve_key`` returns the device's public key, or ``None`` if unknown/revoked.

    Replay detection is NOT done here: the caller must reject a ``(key_id, nonce)``
    pair seen within ``max_age_seconds`` (the relay's nonce store raises ReplayError).

    Raises:
        AuthError: signature headers missing or malformed; no signature tagged
            ``parley-v1``; a required component or the nonce not covered; unknown
            or revoked key id; a bad signature; a body not matching the signed
            Content-Digest; ``created`` older than ``max_age_seconds`` or more than
            60 s in the future.
        InputError: ``now`` is naive.
        Any exception raised by ``resolve_key`` propagates unchanged.
    """
    lines = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    now = _utc_now(now)
    accepted = _accept_canonical(method, url, lines, body, resolve_key, int(now.timestamp()), max_age_seconds)
    if accepted is not None:
        return accepted
    return _verify_general(method, url, lines, body, resolve_key, now, max_age_seconds)


def _verify_general(method: str, url: str, lines: list[tuple[str, str]], body: bytes,
                    resolve_key: Callable[[str], Ed25519PublicKey | None], now: datetime,
                    max_age_seconds: int) -> VerifiedRequest:
    """``verify_request`` through ``http-message-signatures``. Raises: as ``verify_request``."""
    resolver = _KeyResolver(resolve_key=resolve_key)
    verifier = _ClockedVerifier(now=now, max_age_seconds=max_age_seconds, key_resolver=resolver)
    names = {name.lower() for name, _ in lines}
    if "signature" not in names or "signature-input" not in names:
        raise AuthError("request is not signed (missing Signature or Signature-Input header)")
    message = _Message(method=method, url=url, headers=_HeaderLines(lines))
    try:
        results = verifier.verify(
            message,
            max_age=None,  # the age is checked by _ClockedVerifier against the injected clock
            expect_tag=TAG,
            require_components=SIGNED_COMPONENTS,
            body=body,
        )
    except (InvalidSignature, HTTPMessageSignaturesException) as exc:
        if resolver.lookup_error is not None:
            raise resolver.lookup_error from None
        if resolver.unknown_key:
            raise AuthError("unknown or revoked device key") from exc
        # cryptography's InvalidSignature carries no text: name the failure ourselves.
        detail = str(exc) or "signature does not verify"
        raise AuthError(f"request signature rejected: {detail}") from exc
    if len(results) != 1:
        # Two parley signatures would make key_id/nonce ambiguous for the caller.
        raise AuthError("request must carry exactly one parley-v1 signature")
    params = results[0].parameters
    key_id, nonce, created = params.get("keyid"), params.get("nonce"), params.get("created")
    if not isinstance(nonce, str) or not nonce:
        raise AuthError("request signature has no nonce")
    if not isinstance(key_id, str) or type(created) is not int:
        raise AuthError("request signature is missing keyid or created")
    return VerifiedRequest(key_id=key_id, nonce=nonce, created=created)


# ---- the canonical form, accepted without the general parser ------------------------------------------------
# Every parley client signs requests in exactly one shape. Parsing that shape with the general RFC 8941/9421
# machinery costs about 0.4 ms of pure Python per request, most of the relay's time per event. A request in
# exactly this shape (one field line each, these parameters in this order, a plain ASCII URL) is checked
# here: the signature base is the one RFC 9421 section 2.5 defines for it, byte for byte. This path can
# only *accept*; anything else, including every failure, goes through ``http-message-signatures``, which
# then produces the refusal and its message. ``tests/crypto`` checks on generated and mutated requests that
# whatever this path accepts the library accepts too, with the same key id, nonce and time.
_CANONICAL_INPUT = re.compile(
    r'parley=(\("@method" "@authority" "@path" "@query" "content-digest"\)'
    r';created=([1-9][0-9]{0,11});keyid="([A-Za-z0-9_-]{1,128})";alg="ed25519"'
    r';nonce="([A-Za-z0-9_-]{1,128})";tag="parley-v1")'
)
_CANONICAL_SIGNATURE = re.compile(r"parley=:([A-Za-z0-9+/]{86}==):")
_CANONICAL_DIGEST = re.compile(r"sha-256=:([A-Za-z0-9+/]{43}=):")
_CANONICAL_URL = re.compile(
    r"(?:http|https)://([a-z0-9.-]{1,253})(?::([1-9][0-9]{0,4}))?(/[A-Za-z0-9._~/-]*)(?:\?([A-Za-z0-9._~=&%+-]*))?"
)
_DEFAULT_PORTS = {"http": "80", "https": "443"}


def _accept_canonical(method: str, url: str, lines: list[tuple[str, str]], body: bytes,
                      resolve_key: Callable[[str], Ed25519PublicKey | None], now: int,
                      max_age_seconds: int) -> VerifiedRequest | None:
    """The verified request if it is in parley's canonical shape and valid in every respect; otherwise None
    (the caller then runs the general verifier, which decides and explains). Never raises on bad input;
    an exception from ``resolve_key`` propagates."""
    found: dict[str, str] = {}
    for name, value in lines:
        lowered = name.lower()
        if lowered in _SIGNATURE_HEADERS:
            if lowered in found:
                return None  # repeated field lines: the general path combines them
            found[lowered] = value
    if len(found) != 3 or not method.isalpha() or not method.isupper():
        return None
    signature_input = _CANONICAL_INPUT.fullmatch(found["signature-input"])
    signature = _CANONICAL_SIGNATURE.fullmatch(found["signature"])
    digest = _CANONICAL_DIGEST.fullmatch(found["content-digest"])
    target = _CANONICAL_URL.fullmatch(url)
    if signature_input is None or signature is None or digest is None or target is None:
        return None
    params, created_text, key_id, nonce = signature_input.groups()
    created = int(created_text)
    if created > now + CLOCK_SKEW_SECONDS or now - created > max_age_seconds:
        return None
    if not hmac.compare_digest(base64.b64decode(digest.group(1)), hashlib.sha256(body).digest()):
        return None
    host, port, path, query = target.groups()
    if port is not None and port == _DEFAULT_PORTS[url.split(":", 1)[0]]:
        port = None
    authority = host if port is None else f"{host}:{port}"
    base = (f'"@method": {method}\n"@authority": {authority}\n"@path": {path}\n"@query": ?{query or ""}\n'
            f'"content-digest": {found["content-digest"]}\n"@signature-params": {params}')
    key = resolve_key(key_id)
    if not isinstance(key, Ed25519PublicKey):
        return None
    try:
        key.verify(base64.b64decode(signature.group(1)), base.encode("ascii"))
    except InvalidEd25519Signature:
        return None
    return VerifiedRequest(key_id=key_id, nonce=nonce, created=created)
