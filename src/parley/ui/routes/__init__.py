"""Route groups of the local UI, one module per area of a negotiation page."""


def other_parties(ui, nid: str) -> list[tuple[str, str]]:  # noqa: ANN001
    """(party id, name) of every joined party but this member's own, for recipient pickers."""
    state = ui.client.state(nid)
    own = ui.client.profile.party.party_id
    return [(pid, state.parties[pid].record.name) for pid in state.joined_parties() if pid != own]
