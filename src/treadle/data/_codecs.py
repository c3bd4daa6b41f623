"""Format codecs: which format a file is, and reading tabular formats as Arrow record batches.

Every reader raises :class:`~treadle.errors.InvalidArgument` naming the file (and the line or row
where the format tells it) when the bytes are not what the extension promises.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.json as pjson
import pyarrow.parquet as pq

from treadle.data._util import rebatch
from treadle.errors import InvalidArgument

FORMATS = ("csv", "parquet", "json", "jsonl", "arrow", "image", "text")
TABULAR = ("csv", "parquet", "json", "jsonl", "arrow")
_EXT = {
    "csv": "csv",
    "tsv": "csv",
    "parquet": "parquet",
    "pq": "parquet",
    "json": "json",
    "jsonl": "jsonl",
    "ndjson": "jsonl",
    "arrow": "arrow",
    "feather": "arrow",
    "ipc": "arrow",
    "arrows": "arrow",
    "png": "image",
    "jpg": "image",
    "jpeg": "image",
    "txt": "text",
    "md": "text",
}
_COMPRESSION = {"gz": "gzip", "bz2": "bz2", "zst": "zstd"}
OPTIONS: dict[str, tuple[str, ...]] = {
    "csv": ("delimiter", "header", "column_names", "column_types", "null_values"),
    "parquet": ("columns",),
    "json": (),
    "jsonl": (),
    "arrow": ("columns",),
    "image": ("with_bytes",),
    "text": ("encoding",),
}


def format_of(path: str) -> str | None:
    """The format a file name implies (``x.csv.gz`` → ``"csv"``), or None when unknown."""
    name = path.rstrip("/").rsplit("/", 1)[-1].lower()
    parts = name.split(".")
    if len(parts) > 2 and parts[-1] in _COMPRESSION:
        parts = parts[:-1]
    return _EXT.get(parts[-1]) if len(parts) > 1 else None


def compression_of(path: str) -> str | None:
    return _COMPRESSION.get(path.rsplit(".", 1)[-1].lower())


def check_format(fmt: str, options: dict[str, Any]) -> str:
    if fmt not in FORMATS:
        raise InvalidArgument(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    unknown = sorted(set(options) - set(OPTIONS[fmt]))
    if unknown:
        allowed = ", ".join(OPTIONS[fmt]) or "none"
        raise InvalidArgument(f"unknown option(s) {', '.join(unknown)} for format {fmt!r} (allowed: {allowed})")
    return fmt


Opener = Callable[[], pa.NativeFile]  # a fresh Arrow input stream over the file's (decompressed) bytes


def iter_file(
    opener: Opener, name: str, fmt: str, batch_size: int, options: dict[str, Any]
) -> Iterator[pa.RecordBatch]:
    """Record batches of one tabular file, at most ``batch_size`` rows each."""
    if fmt == "parquet":
        yield from _parquet(opener, name, batch_size, options)
    elif fmt == "arrow":
        yield from rebatch(_arrow(opener, name, options), batch_size)
    elif fmt == "csv":
        yield from rebatch(_csv(opener, name, options), batch_size)
    elif fmt == "jsonl":
        yield from rebatch(_jsonl(opener, name), batch_size)
    elif fmt == "json":
        yield from _json(opener, name).to_batches(max_chunksize=batch_size)
    else:  # pragma: no cover - callers route image/text elsewhere
        raise InvalidArgument(f"format {fmt!r} is not tabular")


def file_schema(opener: Opener, name: str, fmt: str, options: dict[str, Any]) -> pa.Schema:
    """The schema of one tabular file, reading as little as the format allows."""
    if fmt == "parquet":
        with _reading(name, "Parquet"), opener() as f:
            schema = pq.ParquetFile(f).schema_arrow
        cols = options.get("columns")
        return pa.schema([schema.field(c) for c in cols]) if cols else schema
    for batch in iter_file(opener, name, fmt, 65_536, options):
        return batch.schema
    if fmt == "arrow":
        with _reading(name, "Arrow IPC"):
            return _ipc_reader(opener).schema
    return pa.schema([])


def num_rows(opener: Opener, name: str, fmt: str) -> int | None:
    if fmt == "parquet":
        with _reading(name, "Parquet"), opener() as f:
            return int(pq.ParquetFile(f).metadata.num_rows)
    return None


class _reading:
    """Turn Arrow/OS errors while reading ``name`` into InvalidArgument naming the file."""

    def __init__(self, name: str, what: str, hint: str = "") -> None:
        self.name, self.what, self.hint = name, what, hint

    def __enter__(self) -> None:
        return None

    def __exit__(self, tp: Any, exc: BaseException | None, tb: Any) -> None:
        if isinstance(exc, pa.ArrowException | OSError | ValueError | EOFError):
            raise InvalidArgument(f"{self.name} is not a readable {self.what} file: {exc}{self.hint}") from exc


def _parquet(opener: Opener, name: str, batch_size: int, options: dict[str, Any]) -> Iterator[pa.RecordBatch]:
    with _reading(name, "Parquet", " (is it truncated, or not Parquet?)"), opener() as f:
        yield from pq.ParquetFile(f).iter_batches(batch_size=batch_size, columns=options.get("columns"))


def _ipc_reader(opener: Opener) -> Any:
    """The IPC file format (``.arrow``/``.feather``), falling back to the streaming format."""
    try:
        return pa.ipc.open_file(opener())
    except pa.ArrowInvalid:
        return pa.ipc.open_stream(opener())


def _arrow(opener: Opener, name: str, options: dict[str, Any]) -> Iterator[pa.RecordBatch]:
    with _reading(name, "Arrow IPC", " (is it truncated, or not Arrow IPC?)"):
        reader = _ipc_reader(opener)
        batches = (
            (reader.get_batch(i) for i in range(reader.num_record_batches))
            if isinstance(reader, pa.ipc.RecordBatchFileReader)
            else iter(reader)
        )
        cols = options.get("columns")
        for batch in batches:
            yield batch.select(cols) if cols else batch


def _csv(opener: Opener, name: str, options: dict[str, Any]) -> Iterator[pa.RecordBatch]:
    bad: list[Any] = []

    def on_invalid(row: Any) -> str:
        bad.append(row)
        return "error"

    header = options.get("header", True)
    read = pcsv.ReadOptions(
        use_threads=False,
        column_names=options.get("column_names"),
        autogenerate_column_names=not header and not options.get("column_names"),
    )
    parse = pcsv.ParseOptions(delimiter=options.get("delimiter", ","), invalid_row_handler=on_invalid)
    types = {
        k: pa.type_for_alias(v) if isinstance(v, str) else v for k, v in (options.get("column_types") or {}).items()
    }
    extra = {"null_values": options["null_values"]} if "null_values" in options else {}
    # an empty unquoted field is null (as pandas reads it); a quoted "" stays an empty string
    convert = pcsv.ConvertOptions(
        column_types=types, strings_can_be_null=True, quoted_strings_can_be_null=False, **extra
    )
    try:
        with opener() as f:
            yield from pcsv.open_csv(f, read_options=read, parse_options=parse, convert_options=convert)
    except (pa.ArrowInvalid, OSError) as exc:
        if bad:
            row = bad[0]
            where = f"row {row.number}" if row.number is not None else "a row"
            raise InvalidArgument(
                f"malformed CSV in {name}: {where} has {row.actual_columns} column(s), the header has "
                f"{row.expected_columns} ({row.text[:80]!r}); fix the row or check the delimiter"
            ) from exc
        hint = " (declare the column's type with column_types={...})" if "conversion error" in str(exc) else ""
        raise InvalidArgument(f"malformed CSV in {name}: {exc}{hint}") from exc


def _jsonl(opener: Opener, name: str) -> Iterator[pa.RecordBatch]:
    try:
        with opener() as f:
            yield from pjson.open_json(f)
    except (pa.ArrowInvalid, OSError) as exc:
        line = _bad_json_line(opener)
        if line is not None:
            number, err = line
            raise InvalidArgument(f"malformed JSON Lines in {name}: line {number}: {err}") from exc
        raise InvalidArgument(f"cannot read JSON Lines file {name}: {exc}") from exc


def _bad_json_line(opener: Opener) -> tuple[int, str] | None:
    """Re-scan a JSON Lines file to say which line is broken (only after Arrow refused it)."""
    with opener() as f:
        data = f.read()
    for number, raw in enumerate(data.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            return number, f"invalid JSON at column {exc.colno}: {exc.msg}"
        if not isinstance(value, dict):
            return number, f"expected a JSON object, got {type(value).__name__}"
    return None


def _json(opener: Opener, name: str) -> pa.Table:
    with opener() as f:
        raw = f.read()
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidArgument(f"malformed JSON in {name}: line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise InvalidArgument(
            f"{name} must hold a JSON array of objects (one per row); for one object per line use .jsonl"
        )
    try:
        return pa.Table.from_pylist(data)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InvalidArgument(f"the rows in {name} have mixed types: {exc}") from exc
