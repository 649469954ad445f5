"""The relay: orders, stores and serves signed, encrypted events; signs log checkpoints.

- ``ingest``: the group-commit writer that validates and appends events.
- ``auth``: RFC 9421 request authentication and the nonce (replay) store.
- ``app``: the FastAPI application and its routes.
- ``server``: configuration, keys and uvicorn.
"""
