"""Turning Python objects (text, dicts, figures, tables) into artifact files."""

from __future__ import annotations

import io
import json
from pathlib import PurePosixPath
from typing import Any

import yaml

from treadle.errors import InvalidArgument


def dict_bytes(data: Any, artifact_file: str) -> bytes:
    suffix = PurePosixPath(artifact_file).suffix.lower()
    if suffix in (".yaml", ".yml"):
        return yaml.safe_dump(data, sort_keys=False).encode()
    return json.dumps(data, indent=2, default=str).encode()


def figure_bytes(figure: Any, artifact_file: str) -> bytes:
    """A matplotlib or plotly figure, saved in the format the file name asks for."""
    suffix = PurePosixPath(artifact_file).suffix.lower().lstrip(".") or "png"
    module = type(figure).__module__
    buf = io.BytesIO()
    if module.startswith("matplotlib"):
        figure.savefig(buf, format=suffix)
        return buf.getvalue()
    if module.startswith("plotly"):
        if suffix == "html":
            return str(figure.to_html(include_plotlyjs="cdn")).encode()
        if suffix == "json":
            return str(figure.to_json()).encode()
        return bytes(figure.to_image(format=suffix))
    raise InvalidArgument(f"log_figure takes a matplotlib or plotly figure, not {type(figure).__name__}")


def table_bytes(data: Any, artifact_file: str) -> bytes:
    """A DataFrame (or dict of columns) as JSON ``split`` orientation, or Parquet/CSV by suffix."""
    import pandas as pd

    frame = data if isinstance(data, pd.DataFrame) else pd.DataFrame(data)
    suffix = PurePosixPath(artifact_file).suffix.lower()
    if suffix == ".parquet":
        return bytes(frame.to_parquet(index=False))
    if suffix == ".csv":
        return frame.to_csv(index=False).encode()
    if suffix != ".json":
        raise InvalidArgument(f"log_table writes .json, .csv or .parquet files, not {artifact_file!r}")
    return frame.to_json(orient="split", index=False, date_format="iso").encode()
