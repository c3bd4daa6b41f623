"""Small display helpers for the ``treadle models`` commands."""

from __future__ import annotations

from rich.text import Text

MAX_VERSION = 2**31 - 1  # versions are 32-bit integers in every store
APPROVAL_STYLES = {"approved": "green", "rejected": "red", "pending": "yellow"}


def approval_text(approval: str, by: str | None = None) -> Text:
    text = Text(approval, style=APPROVAL_STYLES.get(approval, ""))
    if by:
        text.append(f" by {by}", style="dim")
    return text


def move_text(from_version: int | None, to_version: int | None) -> str:
    """An alias move as ``v1 → v2``, ``set → v1`` or ``v2 → deleted``."""
    before = "set" if from_version is None else f"v{from_version}"
    after = "deleted" if to_version is None else f"v{to_version}"
    return f"{before} → {after}"
