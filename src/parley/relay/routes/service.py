"""Service routes: liveness, readiness, metrics, the relay's identity (no request signature)."""

from __future__ import annotations

import hmac
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from parley import __version__
from parley.errors import AuthError, NotFoundError
from parley.relay.caller import RelayDep
from parley.relay.schemas import ERROR_RESPONSES, Health, Readiness, RelayIdentity, answer

router = APIRouter(responses=ERROR_RESPONSES)


@router.get("/healthz", responses=answer(Health))
async def healthz() -> dict[str, str]:
    """Liveness: the process answers. Touches nothing else."""
    return {"status": "ok"}


@router.get("/readyz", responses={**answer(Readiness), 503: {"model": Readiness, "description": "Not ready: see checks"}})
async def readyz(relay: RelayDep) -> JSONResponse:
    """Readiness: the database answers and its schema is the one this relay needs, the writer runs (and,
    on PostgreSQL, the LISTEN connection is up). 503 with the failing checks otherwise."""
    checks = await run_in_threadpool(relay.readiness)
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse({"status": "ready" if ready else "not ready", "checks": checks},
                        status_code=200 if ready else 503)


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}})
async def metrics(request: Request, relay: RelayDep) -> Response:
    """Prometheus metrics, for a scraper holding the relay's metrics token (``Authorization: Bearer``)."""
    if relay.metrics_token is None:
        raise NotFoundError("metrics are not served: set metrics_token in the relay's configuration")
    given = request.headers.get("authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {relay.metrics_token}".encode()):
        raise AuthError("metrics need the relay's metrics token (Authorization: Bearer ...)")
    # With several workers the writer's counters are one round trip away: not on the event loop.
    body = await run_in_threadpool(relay.metrics.render)
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")


@router.get("/v1/relay", responses=answer(RelayIdentity))
async def relay_info(relay: RelayDep) -> dict[str, Any]:
    return {"name": relay.name, "vkey": relay.signer.vkey(), "protocol": 1, "version": __version__,
            "limits": {"max_request_bytes": relay.limits.max_request_bytes,
                       "max_ciphertext_bytes": relay.limits.max_ciphertext_bytes,
                       "max_page_events": relay.limits.max_page_events,
                       "max_page_bytes": relay.limits.max_page_bytes}}
