"""parley: confidential negotiations with an untrusted relay.

End-to-end encrypted (age), signed (Ed25519 over RFC 8785 bytes), ordered in a
per-negotiation RFC 9162 Merkle log with C2SP signed checkpoints.
"""

__version__ = "0.1.0"
