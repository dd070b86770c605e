"""gdlab's exceptions and the helpers that word their messages.

Every exception subclasses a built-in that users already catch (``ValueError``,
``TypeError``), so ``except ValueError`` keeps working around gdlab calls.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class GdlabError(Exception):
    """Base class of every error gdlab raises on purpose."""


class ConfigError(GdlabError, ValueError):
    """A setting is unknown, of the wrong type, or out of range."""


class ShapeError(GdlabError, ValueError):
    """An array does not have the shape the model or the data needs."""


class DataError(GdlabError, ValueError):
    """A dataset cannot be used as given (missing values, one class, ...)."""


class NotSupportedError(GdlabError, NotImplementedError):
    """A Keras feature that gdlab does not implement (said plainly, never ignored)."""


def closest(name: str, valid: Iterable[str]) -> str | None:
    """The valid name closest to ``name`` (ignoring case), or None when nothing is close."""
    by_lower = {v.lower(): v for v in valid}
    match = difflib.get_close_matches(str(name).lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[match[0]] if match else None


def unknown_name(kind: str, name: object, valid: Iterable[str]) -> ConfigError:
    """A ConfigError for an unknown registry name, listing the valid ones."""
    valid = sorted(valid)
    hint = closest(str(name), valid)
    did_you_mean = f" Did you mean {hint!r}?" if hint else ""
    return ConfigError(
        f"Unknown {kind} {name!r}.{did_you_mean} Valid {kind}s: {', '.join(valid)}."
    )
