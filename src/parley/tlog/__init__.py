"""Transparency log primitives: RFC 9162 Merkle trees, C2SP signed notes and checkpoints.

Everything here is pure (no I/O): storage backends plug in through
:class:`parley.tlog.merkle.NodeReader`.
"""
