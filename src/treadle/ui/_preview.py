"""Artifact previews: the first ~200 KB of a file as text, JSON, a table, or an image reference."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Literal

from treadle.artifacts import ArtifactFile, BlobStore

PREVIEW_BYTES = 200 * 1024
MAX_TABLE_ROWS = 500
IMAGES = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg", ".bmp", ".ico", ".avif"}
# Suffixes shown as text even when the sample is not clean UTF-8 ("" = no suffix, e.g. LICENSE).
# fmt: off
TEXT = {
    "", ".txt", ".log", ".md", ".rst", ".py", ".sh", ".cfg", ".ini", ".toml", ".yaml", ".yml",
    ".json", ".jsonl", ".csv", ".tsv", ".html", ".xml", ".js", ".css", ".sql", ".r", ".ipynb",
}
# fmt: on

Kind = Literal["image", "table", "json", "text", "binary", "empty"]


@dataclass
class Preview:
    file: ArtifactFile
    kind: Kind
    text: str = ""
    columns: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    truncated: bool = False  # only the first PREVIEW_BYTES were read
    rows_cut: bool = False  # a table longer than MAX_TABLE_ROWS


def read_head(blobs: BlobStore, digest: str, limit: int = PREVIEW_BYTES) -> bytes:
    """At most ``limit`` bytes from the start of a blob, without reading the rest."""
    out = bytearray()
    chunks = blobs.open(digest)
    try:
        for chunk in chunks:
            out += chunk
            if len(out) >= limit:
                break
    finally:
        close = getattr(chunks, "close", None)  # stop a generator early: no full read, no digest check
        if close is not None:
            close()
    return bytes(out[:limit])


def build_preview(blobs: BlobStore, file: ArtifactFile) -> Preview:
    suffix = PurePosixPath(file.path).suffix.lower()
    if suffix in IMAGES:
        return Preview(file, "image")
    if file.size == 0:
        return Preview(file, "empty")
    head = read_head(blobs, file.digest)
    truncated = file.size > len(head)
    if b"\x00" in head[:8192] or (suffix not in TEXT and not _looks_textual(head)):
        return Preview(file, "binary", truncated=truncated)
    text = head.decode("utf-8", errors="replace")
    if suffix == ".json" and not truncated:
        return _json_preview(file, text)
    if suffix in (".csv", ".tsv"):
        return _csv_preview(file, text, truncated, "\t" if suffix == ".tsv" else ",")
    return Preview(file, "text", text=text, truncated=truncated)


def _looks_textual(head: bytes) -> bool:
    try:
        head[:4096].decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start > 4090  # a character cut at the end of the sample
    return True


def _json_preview(file: ArtifactFile, text: str) -> Preview:
    try:
        data = json.loads(text)
    except ValueError:
        return Preview(file, "text", text=text)
    if (
        isinstance(data, dict)
        and isinstance(data.get("columns"), list)
        and isinstance(data.get("data"), list)
        and all(isinstance(row, list) for row in data["data"])
    ):  # a table logged with log_table (pandas "split" orientation)
        rows = data["data"]
        return Preview(
            file,
            "table",
            columns=[str(c) for c in data["columns"]],
            rows=rows[:MAX_TABLE_ROWS],
            rows_cut=len(rows) > MAX_TABLE_ROWS,
        )
    return Preview(file, "json", text=json.dumps(data, indent=2, ensure_ascii=False))


def _csv_preview(file: ArtifactFile, text: str, truncated: bool, delimiter: str) -> Preview:
    if truncated and "\n" in text:
        text = text[: text.rindex("\n")]  # drop the partial last line
    try:
        rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    except csv.Error:
        return Preview(file, "text", text=text, truncated=truncated)
    if not rows:
        return Preview(file, "empty")
    body = rows[1:]
    return Preview(
        file,
        "table",
        columns=rows[0],
        rows=body[:MAX_TABLE_ROWS],
        truncated=truncated,
        rows_cut=len(body) > MAX_TABLE_ROWS,
    )
