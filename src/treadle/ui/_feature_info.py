"""What the feature pages show about a definition, worked out from its stored spec alone: the source
in a few words (never opened: a database or a stream is not contacted to draw a page), TTLs and ages,
the on-demand transform, what changed between versions, and the list page's search."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Any
from urllib.parse import quote

from treadle.features import EntityRecord, FeatureViewRecord, FeatureViewVersion
from treadle.features._diff import comparable, diff

MAX_VALUE = 80  # characters of a changed value shown in the versions table
MAX_QUERY = 80


@dataclass(frozen=True)
class SourceInfo:
    """A view's source: its kind, a short description, and a page to follow (a dataset) if any."""

    kind: str
    text: str
    url: str | None = None


@dataclass(frozen=True)
class Change:
    path: str
    old: str
    new: str


def _short(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def describe_source(spec: Mapping[str, Any] | None, root: str = "") -> SourceInfo | None:
    """``dataset driver_hist v3`` (linked), ``parquet at /data/h.parquet``, ``sql on ...: SELECT ...``."""
    if not spec:
        return None
    kind = str(spec.get("kind", "source"))
    if kind == "dataset":
        name, version = str(spec.get("name", "")), spec.get("version")
        url = f"{root}/datasets/{quote(name)}" + (f"/{quote(str(version))}" if version is not None else "")
        label = "latest" if version is None else f"v{version}" if isinstance(version, int) else str(version)
        return SourceInfo(kind, f"{name} ({label})", url)
    if kind == "file":
        return SourceInfo(kind, f"{spec.get('format') or 'file'} at {spec.get('uri', '?')}")
    if kind == "sql":
        return SourceInfo(kind, f"{spec.get('url', '?')}: {_short(str(spec.get('query', '')), MAX_QUERY)}")
    if kind == "redis_stream":
        return SourceInfo(kind, f"stream {spec.get('stream', '?')} at {spec.get('url', '?')}")
    rest = {k: v for k, v in spec.items() if k != "kind"}
    return SourceInfo(kind, _short(json.dumps(rest, default=str, sort_keys=True), MAX_QUERY) if rest else "")


def fmt_span(ms: float | None) -> str:
    """A duration in the largest two units: ``45s``, ``12m 05s``, ``3h 20m``, ``2d 4h``."""
    if ms is None:
        return ""
    seconds = int(max(ms, 0) // 1000)
    if seconds < 60:
        return f"{max(ms, 0) / 1000:.1f}s" if ms < 10_000 else f"{seconds}s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h" if hours else f"{days}d"


def fmt_ttl(seconds: float | None) -> str:
    if seconds is None:
        return "none"
    return fmt_span(seconds * 1000) if seconds >= 10 else f"{seconds:g}s"


def transform_info(spec: Mapping[str, Any]) -> dict[str, str] | None:
    """An on-demand view's transform: name, batch format and source text (never its pickle)."""
    transform = spec.get("transform")
    if not isinstance(transform, Mapping):
        return None
    inner = transform.get("spec") if transform.get("kind") == "transform" else transform
    inner = inner if isinstance(inner, Mapping) else {}
    kind = "treadle.data transform" if transform.get("kind") == "transform" else "function"
    return {
        "kind": kind,
        "name": str(inner.get("name") or transform.get("name") or "transform"),
        "batch_format": str(transform.get("batch_format") or inner.get("batch_format") or ""),
        "source": str(inner.get("source") or ""),
    }


def _value(value: Any) -> str:
    if value is None:
        return "—"
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    return _short(text, MAX_VALUE)


def version_changes(versions: list[FeatureViewVersion]) -> dict[int, list[Change]]:
    """Per version (from the second on): the fields that changed since the one before."""
    out: dict[int, list[Change]] = {}
    for before, after in pairwise(versions):
        changes = diff(comparable(before.spec), comparable(after.spec))
        out[after.version] = [Change(c.path or "(order)", _value(c.old), _value(c.new)) for c in changes]
    return out


def view_matches(view: FeatureViewRecord, query: str) -> bool:
    """The search box: a view matches by its name, an entity, a feature or its description."""
    q = query.lower()
    words = [view.name, *view.entities, *(f.get("name", "") for f in view.features), view.description or ""]
    return any(q in w.lower() for w in words)


def entity_matches(entity: EntityRecord, query: str) -> bool:
    q = query.lower()
    return any(q in w.lower() for w in (entity.name, *entity.join_keys, entity.description or ""))


def parse_version(raw: str) -> int | None:
    """``3`` or ``v3`` (None for anything else)."""
    value = raw.strip().lower().removeprefix("v")
    if not (value.isascii() and value.isdigit()) or not 0 < int(value) < 2**31:
        return None
    return int(value)
