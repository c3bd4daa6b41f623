"""``ingest`` and ``split``: getting a table into a pipeline and cutting it into train and test.

``ingest`` reads a dataset version (immutable, by name and version or alias) or anything the data
layer reads (a file, folder, glob or fsspec URI; a source spec such as ``{"kind": "sql", ...}``) into a
pandas DataFrame. It is marked ``reads_mutable``: a connector's data, or a dataset's *latest* version,
can change between runs under the same arguments, so ingest always runs; the steps after it still
hit the cache whenever the table it produced has the same content as before.
"""

from __future__ import annotations

import os
import re
from typing import Any

import pandas as pd

import treadle as td
from treadle.errors import InvalidArgument
from treadle.pipelines import step
from treadle.pipelines.components._util import in_run, log_metrics, log_params

# name, name/3, name@prod (the datasets:/ prefix is optional); anything else is a path or a URI.
_DATASET_RE = re.compile(
    r"^(?:datasets:/)?(?P<name>[A-Za-z0-9][A-Za-z0-9_.\-]{0,255})(?:/(?P<version>\d+)|@(?P<alias>[a-z][a-z0-9_\-]*))?$"
)


def parse_dataset_ref(source: str) -> tuple[str, int | str | None] | None:
    """``(name, version or alias)`` when ``source`` names a dataset version, else None (a path or URI).

    A string is a dataset reference when it starts with ``datasets:/``, or looks like a dataset
    name (optionally ``/<version>`` or ``@<alias>``) and is not an existing path."""
    if "://" in source and not source.startswith("datasets:/"):
        return None
    if not source.startswith("datasets:/") and os.path.exists(source):
        return None
    match = _DATASET_RE.match(source)
    if match is None:
        if source.startswith("datasets:/"):
            raise InvalidArgument(
                f"bad dataset URI {source!r}: use datasets:/<name>, datasets:/<name>/<version> or @<alias>"
            )
        return None
    version = match["version"]
    return match["name"], int(version) if version else match["alias"]


@step(reads_mutable=True)
def ingest(source: Any, version: int | str | None = None, columns: list[str] | None = None) -> pd.DataFrame:
    """Read ``source`` into a DataFrame.

    ``source``: a dataset (``"iris"``, ``"iris/3"``, ``"iris@prod"``, ``"datasets:/iris/3"``; ``version``
    may give the version or alias instead), a path or URI the data layer reads (CSV, Parquet, JSON,
    ... locally or on ``s3://``, ``http(s)://``), or a source spec dict (``{"kind": "sql", "url": ...,
    "query": ...}``, see :func:`treadle.data.source_from_spec`). ``columns`` keeps only those. The
    step's run records the dataset version (or the source) as its input, for lineage.
    """
    if isinstance(source, dict):
        table = td.data.source_from_spec(source).to_arrow()
        log_params({"source": source.get("kind", "source")})
        return _select(table.to_pandas(), columns, str(source.get("kind")))
    if not isinstance(source, str) or not source:
        raise InvalidArgument(
            f"ingest: source must be a dataset name, a path/URI or a source spec dict, got {type(source).__name__}"
        )
    ref = parse_dataset_ref(source)
    if ref is None:
        frame = td.data.read(source).to_pandas()
        if in_run():
            td.log_input(source)
        log_params({"source": source})
        return _select(frame, columns, source)
    name, pinned = ref
    if pinned is not None and version is not None and pinned != version:
        raise InvalidArgument(f"ingest: {source!r} names version {pinned!r} but version={version!r} was given too")
    handle = td.datasets.get(name, pinned if pinned is not None else version)
    if in_run():
        td.log_input(handle)
    log_params({"source": handle.uri})
    frame = handle.to_pandas(columns)
    log_metrics({"rows": float(len(frame)), "columns": float(frame.shape[1])})
    return frame


def _select(frame: pd.DataFrame, columns: list[str] | None, where: str) -> pd.DataFrame:
    if not columns:
        return frame
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidArgument(f"ingest: {where} has no column(s) {missing}; it has {list(frame.columns)}")
    return frame[columns]


@step(outputs=("train", "test"))
def split(
    data: pd.DataFrame,
    test_size: float = 0.25,
    stratify: str | None = None,
    seed: int = 0,
    shuffle: bool = True,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split ``data`` into train and test frames (``test_size``: a fraction, or a row count when > 1).

    ``stratify`` keeps that column's class proportions in both parts; ``seed`` makes the split
    repeatable (so the steps after it can be cached)."""
    from sklearn.model_selection import train_test_split

    if stratify is not None and stratify not in data.columns:
        raise InvalidArgument(f"split: stratify column {stratify!r} is not in the data; it has {list(data.columns)}")
    if not 0 < test_size < len(data):
        raise InvalidArgument(f"split: test_size must be a fraction in (0, 1) or a row count below {len(data)}")
    size: float | int = int(test_size) if test_size >= 1 else float(test_size)
    try:
        train, test = train_test_split(
            data,
            test_size=size,
            random_state=seed,
            shuffle=shuffle,
            stratify=data[stratify] if stratify else None,
        )
    except ValueError as exc:  # e.g. a class with one member cannot be stratified
        raise InvalidArgument(f"split: {exc}") from None
    log_metrics({"train_rows": float(len(train)), "test_rows": float(len(test))})
    return train.reset_index(drop=True), test.reset_index(drop=True)
