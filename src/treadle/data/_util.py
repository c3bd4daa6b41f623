"""Small helpers shared by the connectors: secret masking, re-batching, schema conforming."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa

from treadle.errors import InvalidArgument

MASK = "***"
_SECRET_KEY = re.compile(r"(secret|password|passwd|token|key|credential)", re.I)
_URL_PASSWORD = re.compile(r"^(?P<head>[a-zA-Z][\w+.-]*://[^/:@]*:)(?P<pw>[^@/]*)(?P<tail>@.*)$")


def mask_url(url: str) -> str:
    """``scheme://user:secret@host`` → ``scheme://user:***@host``; ``${VAR}`` references are kept."""
    m = _URL_PASSWORD.match(url)
    if not m or not m.group("pw") or re.fullmatch(r"\$\{?\w+\}?", m.group("pw")):
        return url
    return f"{m.group('head')}{MASK}{m.group('tail')}"


def expand_url(url: str, what: str) -> str:
    """Expand ``${VAR}`` from the environment; refuse a URL whose password was masked in a spec."""
    m = _URL_PASSWORD.match(url)
    if m and m.group("pw") == MASK:
        raise InvalidArgument(
            f"the {what} URL {url!r} has its password masked (specs never store secrets): "
            "put the password in an environment variable and write it as ${VAR} in the URL"
        )
    missing = [v for v in re.findall(r"\$\{(\w+)\}", url) if v not in os.environ]
    if missing:
        raise InvalidArgument(f"the {what} URL {mask_url(url)!r} needs environment variable(s) {', '.join(missing)}")
    return os.path.expandvars(url)


def mask_options(options: dict[str, Any]) -> dict[str, Any]:
    """Storage options with secret-looking values masked (for specs and descriptions)."""
    return {k: (MASK if _SECRET_KEY.search(k) and isinstance(v, str) else v) for k, v in options.items()}


def unmask_options(options: dict[str, Any]) -> dict[str, Any]:
    """Drop masked values: credentials then come from the environment (e.g. AWS_* variables)."""
    return {k: v for k, v in options.items() if v != MASK}


def check_batch_size(batch_size: int) -> int:
    if not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidArgument(f"batch_size must be a positive integer, got {batch_size!r}")
    return batch_size


def rebatch(batches: Iterable[pa.RecordBatch], batch_size: int) -> Iterator[pa.RecordBatch]:
    """Re-cut a stream of record batches into batches of exactly ``batch_size`` rows (the last may be short)."""
    pending: list[pa.RecordBatch] = []
    rows = 0
    for batch in batches:
        while batch.num_rows:
            take = min(batch_size - rows, batch.num_rows)
            pending.append(batch.slice(0, take))
            rows += take
            batch = batch.slice(take)
            if rows == batch_size:
                yield _combine(pending)
                pending, rows = [], 0
    if rows:
        yield _combine(pending)


def _combine(parts: list[pa.RecordBatch]) -> pa.RecordBatch:
    if len(parts) == 1:
        return parts[0]
    if all(p.schema.equals(parts[0].schema) for p in parts):
        return pa.Table.from_batches(parts).combine_chunks().to_batches()[0]
    tables = [pa.Table.from_batches([p]) for p in parts]  # types widened along the way (null → typed)
    return pa.concat_tables(tables, promote_options="permissive").combine_chunks().to_batches()[0]


def conform(batch: pa.RecordBatch, schema: pa.Schema, where: str) -> pa.RecordBatch:
    """``batch`` with exactly ``schema``'s columns: missing ones null, differing types cast."""
    if batch.schema.equals(schema):
        return batch
    columns = []
    for field in schema:
        idx = batch.schema.get_field_index(field.name)
        if idx < 0:
            columns.append(pa.nulls(batch.num_rows, field.type))
            continue
        col = batch.column(idx)
        if not col.type.equals(field.type):
            try:
                col = col.cast(field.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise InvalidArgument(
                    f"column {field.name!r} in {where} has type {col.type}, which does not fit "
                    f"the type {field.type} of the other files ({exc})"
                ) from exc
        columns.append(col)
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def unify(schemas: list[pa.Schema], where: str) -> pa.Schema:
    try:
        return pa.unify_schemas(schemas, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InvalidArgument(f"the files of {where} have incompatible schemas: {exc}") from exc


def concat(tables: list[pa.Table], schema: pa.Schema | None = None) -> pa.Table:
    """Concatenate tables, promoting types (null → typed, int → float) where they differ."""
    if not tables:
        return (schema or pa.schema([])).empty_table()
    if len(tables) == 1:
        return tables[0]
    return pa.concat_tables(tables, promote_options="permissive")
