"""Comparing definitions: a stable digest of what a definition means and a field-level diff."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from treadle.features._records import FieldChange
from treadle.features._transforms import comparable_transform


def comparable(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The spec without parts that vary between runs of the same code (a transform's pickle)."""
    out = dict(spec)
    if isinstance(out.get("transform"), Mapping):
        out["transform"] = comparable_transform(out["transform"])
    return out


def digest(spec: Mapping[str, Any]) -> str:
    text = json.dumps(comparable(spec), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _named(items: Any) -> dict[str, Any] | None:
    """A list of dicts that all have a unique "name", keyed by it (so schema changes diff per field)."""
    if not isinstance(items, list) or not items or not all(isinstance(i, Mapping) and "name" in i for i in items):
        return None
    keyed = {str(i["name"]): i for i in items}
    return keyed if len(keyed) == len(items) else None


def diff(old: Any, new: Any, path: str = "") -> list[FieldChange]:
    """Field-level changes from ``old`` to ``new``: ``schema[trips].dtype``, ``ttl_seconds``, ..."""
    if old == new:
        return []
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        changes: list[FieldChange] = []
        for key in list(old) + [k for k in new if k not in old]:
            sub = f"{path}.{key}" if path else str(key)
            if key not in new:
                changes.append(FieldChange(path=sub, old=old[key], new=None))
            elif key not in old:
                changes.append(FieldChange(path=sub, old=None, new=new[key]))
            else:
                changes.extend(diff(old[key], new[key], sub))
        return changes
    old_named, new_named = _named(old), _named(new)
    if old_named is not None and new_named is not None:
        changes = []
        for name in list(old_named) + [n for n in new_named if n not in old_named]:
            sub = f"{path}[{name}]"
            if name not in new_named:
                changes.append(FieldChange(path=sub, old=old_named[name], new=None))
            elif name not in old_named:
                changes.append(FieldChange(path=sub, old=None, new=new_named[name]))
            else:
                changes.extend(diff(old_named[name], new_named[name], sub))
        if not changes:  # same items in another order
            changes.append(FieldChange(path=path, old=[i["name"] for i in old], new=[i["name"] for i in new]))
        return changes
    return [FieldChange(path=path, old=old, new=new)]
