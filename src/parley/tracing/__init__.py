"""Leak tracing: per-recipient invisibly marked copies (Tardos code) and tracing of leaks.

See docs/tracing.md for how it works, the formulas, measured detection rates and limits.
"""

from __future__ import annotations

from parley.tracing.code import CodeParams, plan_code
from parley.tracing.marks import unmark
from parley.tracing.secret import TracingSecret
from parley.tracing.trace import Accusation, TraceReport, capacity, make_copies, trace
from parley.tracing.visible import VisibleMark, find_visible_mark, visible_mark, with_visible_mark

__all__ = [
    "Accusation",
    "CodeParams",
    "TraceReport",
    "TracingSecret",
    "VisibleMark",
    "capacity",
    "find_visible_mark",
    "make_copies",
    "plan_code",
    "trace",
    "unmark",
    "visible_mark",
    "with_visible_mark",
]
