"""Stopping a run cleanly on Ctrl-C or SIGTERM.

A signal handler that raises at once can land anywhere, even inside a garbage
collector callback that swallows the exception. The command line installs
:func:`install` instead: the first signal only *asks* to stop, and training
stops at the next safe point (between epochs, see :func:`check`), where every
file on disk is complete. A second signal stops at once.
"""

from __future__ import annotations

import signal
import threading

_requested = threading.Event()


def request(signum: int | None = None, frame: object = None) -> None:
    """Ask the running study to stop at its next safe point (a second call stops now)."""
    if _requested.is_set():
        raise KeyboardInterrupt
    _requested.set()


def check() -> None:
    """Raise KeyboardInterrupt if a stop was asked for (call between units of work)."""
    if _requested.is_set():
        _requested.clear()
        raise KeyboardInterrupt


def install() -> dict[int, object]:
    """Route SIGINT and SIGTERM to :func:`request` (main thread only); returns the old handlers."""
    _requested.clear()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, request)
    return previous


def restore(previous: dict[int, object]) -> None:
    """Put back handlers returned by :func:`install`."""
    _requested.clear()
    for sig, handler in previous.items():
        signal.signal(sig, handler)
