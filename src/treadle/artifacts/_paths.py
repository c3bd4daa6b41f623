"""Validation of logical artifact paths: relative, normalised, never escaping their root."""

from __future__ import annotations

from pathlib import PurePosixPath

from treadle.errors import InvalidArgument

MAX_PATH = 1024


def clean_path(path: str) -> str:
    """Return ``path`` normalised, or raise if it is absolute, escapes with ``..`` or is odd."""
    if not isinstance(path, str) or not path.strip():
        raise InvalidArgument("artifact path must be a non-empty string")
    if len(path) > MAX_PATH:
        raise InvalidArgument(f"artifact path is {len(path)} characters; the limit is {MAX_PATH}")
    if "\x00" in path or "\\" in path:
        raise InvalidArgument(f"artifact path {path!r} contains a NUL or backslash")
    if path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        raise InvalidArgument(f"artifact path {path!r} is absolute; give a path relative to the run")
    parts = [p for p in PurePosixPath(path).parts if p not in ("", ".")]
    if ".." in parts:
        raise InvalidArgument(f"artifact path {path!r} contains '..'; paths may not leave their root")
    if not parts:
        raise InvalidArgument(f"artifact path {path!r} names no file")
    return "/".join(parts)
