"""The pure protocol core: no I/O, no clocks, no network.

- ``times``: the one timestamp format of signed data.
- ``identity``: party records, member certificates, revocations.
- ``events``: the event envelope (header, signature, ciphertexts) and body.
- ``state``: validation of each event against the log so far, and the
  negotiation state derived from the log.

The relay and every client run exactly this code to accept an event.
"""
