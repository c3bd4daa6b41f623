"""``executor="ray"``: a transform's chunks on Ray Data (``map_batches``), local or on a cluster.

Ray is an optional extra (``treadle[ray]``). The cluster is the one already initialised, else
``TREADLE_RAY_ADDRESS``, else a local one. Local Parquet files are read by Ray's workers; other
sources are read here chunk by chunk into Ray's object store (which spills to disk).
"""

from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from fsspec.implementations.local import LocalFileSystem

from treadle.data._files import FileSource
from treadle.data._util import concat
from treadle.errors import InvalidArgument

if TYPE_CHECKING:
    from treadle.data._transform import Transform
    from treadle.data.base import Sink, Source

_LOADED: dict[str, Transform] = {}


def _load(key: str, payload: bytes) -> Transform:
    """The transform on a Ray worker, unpickled once per process."""
    found = _LOADED.get(key)
    if found is None:
        import cloudpickle

        from treadle.data._transform import Transform

        name, fmt, fn = cloudpickle.loads(payload)
        found = _LOADED[key] = Transform(cloudpickle.loads(fn), name=name, batch_format=fmt)
    return found


def init_ray(module: str, needed_by: str) -> Any:
    """Ray, joined to the cluster already initialised, else ``TREADLE_RAY_ADDRESS``, else a local one;
    ``module`` (``ray.data``, ``ray.serve``) must import, or the error names ``needed_by`` and the extra."""
    try:
        import importlib

        import ray

        importlib.import_module(module)
    except ImportError as exc:
        raise InvalidArgument(f'{needed_by} needs {module}: pip install "treadle[ray]"') from exc
    if not ray.is_initialized():
        ray.init(address=os.environ.get("TREADLE_RAY_ADDRESS") or None, include_dashboard=False, log_to_driver=False)
    return ray


def _ray() -> Any:
    return init_ray("ray.data", 'executor="ray"')


def _dataset(ray: Any, src: Source, chunk_size: int) -> Any:
    if isinstance(src, FileSource) and src.format == "parquet" and isinstance(src.fs, LocalFileSystem):
        return ray.data.read_parquet(src.files, columns=src.options.get("columns"))
    refs = [ray.put(pa.Table.from_batches([b])) for b in src.iter_batches(chunk_size)]
    if not refs:
        refs = [ray.put(src.schema().empty_table())]
    return ray.data.from_arrow_refs(refs)


def run_on_ray(
    transform: Transform, src: Source, sink: Sink | None, *, chunk_size: int, progress: bool
) -> pa.Table | None:
    import cloudpickle

    from treadle.data._transform import _progress

    ray = _ray()
    payload = cloudpickle.dumps((transform.name, transform.batch_format, transform.pickled()))
    key = hashlib.sha256(payload).hexdigest()

    def apply(batch: pa.Table) -> pa.Table:
        return _load(key, payload).apply_arrow(batch)

    ctx = ray.data.DataContext.get_current()
    saved = (ctx.execution_options.preserve_order, ctx.enable_progress_bars)
    ctx.execution_options.preserve_order = True  # batch ids follow the source's order
    ctx.enable_progress_bars = False
    try:
        if transform.input_schema is None:
            transform.input_schema = src.schema()
        ds = _dataset(ray, src, chunk_size).map_batches(apply, batch_format="pyarrow", batch_size=chunk_size)
        outs: list[pa.Table] = []
        with _progress(progress, f"transform {transform.name} on ray", src.num_rows()) as advance:
            for i, out in enumerate(ds.iter_batches(batch_size=None, batch_format="pyarrow")):
                if sink is not None:
                    sink.write(f"{i:08d}", out)
                else:
                    outs.append(out)
                advance(out.num_rows)
    finally:
        ctx.execution_options.preserve_order, ctx.enable_progress_bars = saved
    return None if sink is not None else concat(outs)
