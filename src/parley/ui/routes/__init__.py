"""Route groups of the local UI, one module per area of a negotiation page."""
