"""Rich progress bars for long CLI work, drawn on standard error from ``parley.progress`` reports; off with
``--json`` and when standard error is not a terminal (a script, a pipe, a log file)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

from parley.progress import listening

if TYPE_CHECKING:
    from rich.console import Console


def bars_wanted(as_json: bool, console: Console) -> bool:
    return not as_json and console.is_terminal


@contextmanager
def progress_bars(console: Console) -> Iterator[None]:
    """Draw a bar per reported task while the block runs; each bar disappears when the block ends.

    The bars start at the first report: most commands report nothing, and they need not import
    ``rich.progress`` (nor start its refresh thread) at all."""
    bars: Any = None
    tasks: dict[str, Any] = {}

    def update(task: str, done: int, total: int | None) -> None:
        nonlocal bars
        if bars is None:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            bars = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), console=console, transient=True)
            bars.start()
        if task not in tasks:
            tasks[task] = bars.add_task(task, total=total)
        bars.update(tasks[task], completed=done, total=total)

    try:
        with listening(update):
            yield
    finally:
        if bars is not None:
            bars.stop()


def maybe_progress_bars(as_json: bool, console: Console) -> Any:
    """``progress_bars`` when wanted (see ``bars_wanted``), otherwise a block that draws nothing."""
    return progress_bars(console) if bars_wanted(as_json, console) else nullcontext()
