"""Files on disk, written safely: atomic writes, writable-directory checks, run manifests.

Every file gdlab writes goes to a temporary file in the same directory first and
is moved into place with ``os.replace``, so a reader (or an interrupted run)
only ever sees complete files.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gdlab.errors import GdlabError


class OutputError(GdlabError, OSError):
    """An output directory or file cannot be written."""


def atomic_write(path: str | Path, write: Callable[[Path], None] | bytes | str) -> Path:
    """Write ``path`` atomically: ``write`` is bytes, text, or a function writing a given path."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"Cannot write a file at {path}: it is an existing directory.")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; files should read like any other
    try:
        if isinstance(write, bytes):
            tmp.write_bytes(write)
        elif isinstance(write, str):
            tmp.write_text(write, encoding="utf-8")
        else:
            write(tmp)
        with open(tmp, "rb+") as f:  # on disk before it takes the name
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: str | Path, data: Any) -> Path:
    """Atomically write JSON (sorted keys, indented)."""
    return atomic_write(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def ensure_writable(directory: str | Path, needed_bytes: int = 1 << 20) -> Path:
    """Create ``directory`` and prove it is writable (and not full) before any work starts."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / ".gdlab-write-test"
        with open(probe, "wb") as f:
            f.write(b"\0" * min(needed_bytes, 1 << 16))
            f.flush()
            os.fsync(f.fileno())
        probe.unlink()
    except OSError as e:
        reason = e.strerror or str(e)
        raise OutputError(
            f"Cannot write to the output directory {directory}: {reason}. Choose another "
            "directory with --out (or free some space)."
        ) from None
    free = _free_bytes(directory)
    if free is not None and free < needed_bytes:
        raise OutputError(
            f"The output directory {directory} has only {free // 1024} KiB free; gdlab needs "
            f"about {needed_bytes // 1024} KiB. Choose another directory with --out."
        )
    return directory


def _free_bytes(directory: Path) -> int | None:
    try:
        st = os.statvfs(directory)
    except (OSError, AttributeError):
        return None
    return st.f_bavail * st.f_frsize


def inside(base: str | Path, relative: str) -> Path:
    """``base / relative``, refusing anything that would escape ``base``."""
    base = Path(base).resolve()
    target = (base / relative).resolve()
    if target != base and base not in target.parents:
        raise OutputError(f"Refusing to write {relative!r}: it is outside {base}.")
    return target


def safe_name(name: str) -> str:
    """A file-name-safe version of a sweep or study name."""
    keep = "".join(c if c.isalnum() or c in "-_." else "-" for c in name.strip())
    keep = keep.strip(".-") or "unnamed"
    return keep[:80]
