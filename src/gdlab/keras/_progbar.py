"""Keras-style console lines for ``fit``, ``evaluate`` and ``predict``.

Batches run inside one compiled program, so the bar is printed complete at the
end of each epoch (verbose=1) or as one line per epoch (verbose=2), in Keras's
format: ``30/30 ━━━━━━━━━━━━━━━━━━━━ 0s 2ms/step - accuracy: 0.8125 - loss: 0.4412``.
"""

from __future__ import annotations

import math
import sys

_WIDTH = 20


def _color() -> bool:
    return bool(getattr(sys.stdout, "isatty", lambda: False)()) or "ipykernel" in sys.modules


def _time_per_step(seconds: float, steps: int) -> str:
    t = seconds / max(steps, 1)
    if t >= 1 or t == 0:
        return f"{t:.0f}s/step"
    if t >= 1e-3:
        return f"{t * 1e3:.0f}ms/step"
    return f"{t * 1e6:.0f}us/step"


def _value(v: float) -> str:
    return f"{v:.4f}" if abs(v) > 1e-3 else f"{v:.4e}"


def _metrics(logs: dict[str, float]) -> str:
    return "".join(f" - {k}: {_value(v)}" for k, v in logs.items())


def resolve_verbose(verbose: int | str) -> int:
    """Keras's 'auto' is 1; anything else must be 0, 1 or 2."""
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2):
        from gdlab.errors import ConfigError

        raise ConfigError(f"`verbose` must be 0, 1, 2 or 'auto', got {verbose!r}.")
    return int(verbose)


def epoch_header(epoch: int, epochs: int) -> None:
    """``Epoch 3/10``."""
    print(f"Epoch {epoch + 1}/{epochs}", flush=True)


def bar(verbose: int, steps: int, seconds: float, logs: dict[str, float]) -> None:
    """Print the finished progress line of an epoch (or of evaluate/predict)."""
    if verbose == 0:
        return
    digits = int(math.log10(max(steps, 1))) + 1
    count = f"{steps:>{digits}d}/{steps}"
    if verbose == 2:
        print(f"{count} - {seconds:.0f}s - {_time_per_step(seconds, steps)}{_metrics(logs)}",
              flush=True)
        return
    full = "━" * _WIDTH
    if _color():
        count, full = f"\x1b[1m{count}\x1b[0m", f"\x1b[32m{full}\x1b[0m"
    print(f"{count} {full} {seconds:.0f}s {_time_per_step(seconds, steps)}{_metrics(logs)}",
          flush=True)
