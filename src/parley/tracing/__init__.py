"""Leak tracing: per-recipient copies told apart by their wording (Tardos code), and tracing of leaks.

See docs/tracing.md for how it works, the formulas, measured detection rates and limits.

The names below are imported from their modules on first use (PEP 562): a read command that only
removes marks (``unmark``, from ``parley.tracing.marks``) does not load the code, the trace and the
wording tables, which copying and tracing need (``tests/cli/test_cli_startup.py``).
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from parley.tracing.code import CodeParams, plan_code
    from parley.tracing.document import TracedText
    from parley.tracing.drafts import DraftText, agreement_code
    from parley.tracing.marks import unmark
    from parley.tracing.secret import TracingSecret
    from parley.tracing.trace import Accusation, TraceReport, capacity, make_copies, trace, trace_drafts
    from parley.tracing.variants import Slot, parse_alternatives
    from parley.tracing.visible import VisibleMark, find_visible_mark, visible_mark, with_visible_mark

#: each exported name -> the module of this package that defines it
_HOME = {
    "CodeParams": "code", "plan_code": "code",
    "TracedText": "document",
    "DraftText": "drafts", "agreement_code": "drafts",
    "unmark": "marks",
    "TracingSecret": "secret",
    "Accusation": "trace", "TraceReport": "trace", "capacity": "trace", "make_copies": "trace", "trace": "trace",
    "trace_drafts": "trace",
    "Slot": "variants", "parse_alternatives": "variants",
    "VisibleMark": "visible", "find_visible_mark": "visible", "visible_mark": "visible",
    "with_visible_mark": "visible",
}  # fmt: skip

__all__ = [
    "Accusation",
    "CodeParams",
    "DraftText",
    "Slot",
    "TraceReport",
    "TracedText",
    "TracingSecret",
    "VisibleMark",
    "agreement_code",
    "capacity",
    "find_visible_mark",
    "make_copies",
    "parse_alternatives",
    "plan_code",
    "trace",
    "trace_drafts",
    "unmark",
    "visible_mark",
    "with_visible_mark",
]


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'parley.tracing' has no attribute '{name}'")
    value = getattr(importlib.import_module(f"parley.tracing.{_HOME[name]}"), name)
    globals()[name] = value  # found once; later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOME})


class _Package(types.ModuleType):
    """``parley.tracing.trace`` is the function ``trace``, as the package always exported it: importing the
    module of the same name (which makes the import system set it on the package) does not replace it."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "trace" and isinstance(value, types.ModuleType):
            value = value.trace
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
