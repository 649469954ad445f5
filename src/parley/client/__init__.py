"""The client SDK: profiles, the signed-request transport, sync with full verification.

- ``profile``: a member's folder: public profile, keystore, pinned trust.
- ``transport``: RFC 9421-signed requests to the relay (any httpx transport).
- ``cache``: the local copy of every verified log (SQLite, client side).
- ``sdk``: ``Client``, the workflow: parties, negotiations, sync, posting.
"""
