"""Relay signing-key compromise: an attacker who stole ``relay.key`` signs checkpoints of a history of its choice.

The signature on a forged checkpoint is valid, so no client can tell it apart by itself. What catches it
is receipt gossip: every event carries the checkpoint its author verified, and the other parties check
it against their own log.
"""

from __future__ import annotations

from malicious_relay import use_transport
from test_malicious_relay import copy_event, detected, snapshot

from parley.errors import ForkError
from parley.tlog.checkpoint import checkpoint_origin, open_checkpoint
from parley.tlog.note import Verifier


def test_forged_checkpoint_with_stolen_relay_key_is_caught_by_gossip(world, fork_relay):
    ukraine, russia = world.party("Ukraine"), world.party("Russian Federation")
    nid = world.negotiation(ukraine, russia)
    ukraine.send_message(nid, "Ukraine: opening statement.")
    russia.sync(nid)

    # The attacker runs its own relay with the stolen key on a copy of the data, and diverts Russia to it.
    attacker = fork_relay()
    assert attacker.relay.signer.vkey() == world.relay.signer.vkey()
    use_transport(russia, attacker.transport)

    concession = ukraine.send_message(nid, "Ukraine: concession on issue 3.")  # only on the real relay
    russia_reply = russia.send_message(nid, "Russia: no movement on issue 3.")  # only on the attacker's
    assert concession.seq == russia_reply.seq  # two histories of one size

    # The attacker's checkpoint verifies under the relay key Russia pinned: the signature cannot tell.
    forged = attacker.relay.store.head(nid).checkpoint
    origin = checkpoint_origin(world.relay.name, nid)
    forged_cp = open_checkpoint(forged, [Verifier.from_vkey(russia.profile.relay_vkey)], expected_origin=origin)
    real_cp = open_checkpoint(world.store.head(nid).checkpoint, [Verifier.from_vkey(ukraine.profile.relay_vkey)],
                              expected_origin=origin)
    assert forged_cp.size == real_cp.size and forged_cp.root != real_cp.root

    # To keep the talks flowing the attacker (in the middle of both parties) passes Russia's reply on to
    # Ukraine's branch, and Ukraine's answer (which follows that reply) on to Russia's. That answer carries
    # the checkpoint Ukraine verified, which covers the concession Russia never saw (gossip).
    copy_event(attacker.relay, nid, russia_reply.seq, russia, world.transport)
    ukraine.sync(nid)
    ukraine_next = ukraine.send_message(nid, "Ukraine: we await your answer on issue 3.")
    copy_event(world.relay, nid, ukraine_next.seq, ukraine, attacker.transport)
    before = snapshot(russia, nid)
    with detected(ForkError, r"verified a different history at size \d+: the relay forked the log between parties"):
        russia.sync(nid)
    assert snapshot(russia, nid) == before  # nothing from the forged branch past the gossip is stored


def test_stolen_relay_key_cannot_forge_a_members_event(world, fork_relay):
    """The key signs checkpoints, not events: an event in Ukraine's name needs Ukraine's device key."""
    import json
    from dataclasses import replace

    from parley.crypto.keys import SigningKey
    from parley.errors import AuthError
    from parley.protocol.events import Envelope, sign_header

    ukraine, russia = world.party("Ukraine"), world.party("Russian Federation")
    nid = world.negotiation(ukraine, russia)
    captured: list[Envelope] = []
    original = ukraine._send
    ukraine._send = lambda _nid, envelope: captured.append(envelope)
    try:
        ukraine.send_message(nid, "genuine text")
    finally:
        ukraine._send = original
    impostor = SigningKey.generate()
    forged = replace(captured[0], signature=sign_header(impostor, captured[0].header))
    attacker = fork_relay()
    from parley.client.transport import RelayConnection

    conn = RelayConnection("http://relay", impostor, transport=attacker.transport)
    try:
        try:
            conn.post(f"/v1/negotiations/{nid}/events", raw=forged.to_json())
            raise AssertionError("the forged event was accepted")
        except AuthError:
            pass  # the request itself must be signed by a registered device
    finally:
        conn.close()
    assert json.loads(forged.to_json())["signature"] != json.loads(captured[0].to_json())["signature"]
