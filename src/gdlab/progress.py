"""A rich progress bar fed by finished epochs (no per-step Python work)."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


def interactive() -> bool:
    """Whether a progress bar would be seen: a terminal or a notebook."""
    return bool(getattr(sys.stderr, "isatty", lambda: False)()) or "ipykernel" in sys.modules


@contextmanager
def progress_bar(description: str, enabled: bool | str = "auto",
                 delay: float = 0.5) -> Iterator[Callable[[int, int], None]]:
    """Yield ``update(done, total)``; the bar appears after ``delay`` seconds, if enabled.

    ``enabled="auto"`` shows it only in a terminal or notebook.
    """
    if enabled == "auto":
        enabled = interactive()
    if not enabled:
        yield lambda done, total: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("epochs"), TimeElapsedColumn(), transient=False)
    task = bar.add_task(description, total=None)
    start = time.perf_counter()
    state = {"started": False}
    lock = threading.Lock()  # shards running side by side report from their own threads

    def update(done: int, total: int) -> None:
        with lock:
            if not state["started"] and time.perf_counter() - start >= delay:
                bar.start()
                state["started"] = True
            bar.update(task, completed=done, total=total)

    try:
        yield update
    finally:
        if state["started"]:
            bar.stop()
