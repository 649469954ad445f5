"""The base end to end in process: two parties, a negotiation, messages both ways."""

from __future__ import annotations


def test_two_parties_exchange_encrypted_messages(any_db_world):
    ukraine = any_db_world.party("Ukraine")
    russia = any_db_world.party("Russian Federation")
    negotiation_id = any_db_world.negotiation(ukraine, russia)
    ukraine.send_message(negotiation_id, "Our memorandum follows.")
    russia.sync(negotiation_id)
    assert [m["content"]["text"] for m in russia.messages(negotiation_id)] == ["Our memorandum follows."]
    russia.send_message(negotiation_id, "Received; awaiting instructions.")
    ukraine.sync(negotiation_id)
    assert [m["party"] for m in ukraine.messages(negotiation_id)] == ["Ukraine", "Russian Federation"]
