"""The relay's routes, one router per area. ``ROUTERS`` is what ``create_app`` includes, in order:
a new area adds its module here."""

from __future__ import annotations

from parley.relay.routes import cosignatures, directory, links, logs, negotiations, public, service

ROUTERS = (
    service.router,  # /healthz, /metrics, /v1/relay
    public.router,  # /public/...: released agreements, public statements
    directory.router,  # /v1/parties...: enrolment, devices, revocations, root rotations
    negotiations.router,  # /v1/negotiations...: create, post, list, stream
    logs.router,  # /v1/negotiations/{id}/checkpoint, proofs, access log
    cosignatures.router,  # /v1/negotiations/{id}/cosignatures: the parties' C2SP cosignatures
    links.router,  # /link/{slot}, /v1/links/{slot}: the device-link mailbox
)
