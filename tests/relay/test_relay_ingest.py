"""The group-commit writer keeps what it caches between batches only for what was committed."""

from __future__ import annotations

import pytest

from parley.client.sdk import verify_log
from parley.errors import StorageError
from parley.store import relay_store


def test_a_batch_that_fails_to_commit_leaves_no_cached_tree_or_state_behind(world, monkeypatch):
    """The writer remembers each negotiation's Merkle frontier and rule-book state between batches. A batch
    whose transaction fails must not leave them advanced: the next posts get valid proofs and the log
    verifies from scratch."""
    ukraine = world.party("Ukraine")
    russia = world.party("Russian Federation")
    negotiation_id = world.negotiation(ukraine, russia)
    for n in range(3):
        ukraine.send_message(negotiation_id, f"before {n}")
    size_before = world.store.head(negotiation_id).size

    original = relay_store.WriteTxn.set_head

    def failing_set_head(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        raise RuntimeError("disk full")

    monkeypatch.setattr(relay_store.WriteTxn, "set_head", failing_set_head)
    with pytest.raises(StorageError, match="disk full"):
        russia.send_message(negotiation_id, "lost with its batch")
    monkeypatch.setattr(relay_store.WriteTxn, "set_head", original)
    assert world.store.head(negotiation_id).size == size_before

    for n in range(3):  # each post's inclusion proof is checked by the client against the new checkpoint
        russia.send_message(negotiation_id, f"after {n}")
    assert world.store.head(negotiation_id).size == size_before + 3
    for client in (ukraine, russia):
        assert verify_log(client, negotiation_id)["result"] == "verified"
    texts = [m["content"]["text"] for m in ukraine.messages(negotiation_id)]
    assert "lost with its batch" not in texts and texts[-3:] == ["after 0", "after 1", "after 2"]
