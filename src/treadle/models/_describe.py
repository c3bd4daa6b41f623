"""A version's ``treadle-model.yaml`` read loosely for display (any flavor, any manifest age).

Used by the CLI and the web UI; loading a model uses the strict :func:`read_manifest` instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from treadle.artifacts import ArtifactFile, BlobStore
from treadle.models._manifest import MANIFEST, parse_manifest_yaml

MAX_MANIFEST_BYTES = 1024 * 1024


@dataclass(frozen=True)
class SignatureRow:
    direction: str  # input | output
    name: str | None
    dtype: str
    shape: str  # "(-1, 4)" or ""


def describe_manifest(blobs: BlobStore, files: Sequence[ArtifactFile]) -> dict[str, Any]:
    """The parsed manifest among ``files`` ({} when missing, too big or not a YAML mapping)."""
    entry = next((f for f in files if f.path == MANIFEST), None)
    if entry is None or entry.size > MAX_MANIFEST_BYTES:
        return {}
    try:
        data = parse_manifest_yaml(blobs.read_bytes(entry.digest))
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def signature_rows(spec: dict[str, Any]) -> list[SignatureRow]:
    """One row per input and output column or tensor of the manifest's ``signature``."""
    signature = spec.get("signature")
    if not isinstance(signature, dict):
        return []
    rows = []
    for direction in ("inputs", "outputs"):
        schema = signature.get(direction)
        specs = schema.get("specs") if isinstance(schema, dict) else None
        for item in specs if isinstance(specs, list) else []:
            if not isinstance(item, dict):
                continue
            shape = item.get("shape")
            rows.append(
                SignatureRow(
                    direction=direction[:-1],
                    name=None if item.get("name") is None else str(item["name"]),
                    dtype=str(item.get("dtype", "")),
                    shape=f"({', '.join(str(d) for d in shape)})" if isinstance(shape, list) else "",
                )
            )
    return rows
