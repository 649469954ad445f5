"""Public pages: released agreements and public statements only (no signature needed)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from parley.errors import NotFoundError
from parley.relay.caller import RelayDep, b64
from parley.relay.schemas import ERROR_RESPONSES, PublicStatements, ReleasedAgreement, answer
from parley.tlog import merkle

router = APIRouter(responses=ERROR_RESPONSES)


@router.get("/public/agreements/{agreement_id}", responses=answer(ReleasedAgreement))
async def public_agreement(agreement_id: str, relay: RelayDep) -> dict[str, Any]:
    """A released agreement: canonical text, SSHSIG signatures and release consents of every party."""
    record = await run_in_threadpool(relay.store.public_record, "agreement", agreement_id)
    if record is None:
        raise NotFoundError("no released agreement with that id (agreements stay sealed until every party "
                            "has signed and consented to release)")
    head = await run_in_threadpool(relay.store.head, record["negotiation_id"])
    proof = await run_in_threadpool(merkle.inclusion_proof, record["seq"], head.size,
                                    relay.store.node_reader(record["negotiation_id"]))
    return {"agreement": json.loads(record["content"]), "negotiation_id": record["negotiation_id"],
            "seq": record["seq"], "checkpoint": head.checkpoint, "inclusion_proof": [b64(p) for p in proof],
            "relay_vkey": relay.signer.vkey()}


@router.get("/public/statements", responses=answer(PublicStatements))
async def public_statements(relay: RelayDep) -> dict[str, Any]:
    """Public statements (joint communiqués) of every negotiation, newest first."""
    rows = await run_in_threadpool(relay.store.public_records, "statement")
    return {"statements": [{"negotiation_id": r["negotiation_id"], "seq": r["seq"],
                            **json.loads(r["content"])} for r in rows]}
