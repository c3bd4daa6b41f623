"""Codecs on real files: every format round-trips locally and on ``memory://``; bad files name themselves."""

from __future__ import annotations

import gzip
import uuid
from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import treadle.data as td
from treadle.errors import InvalidArgument

TABLE = pa.table(
    {
        "id": pa.array([1, 2, 3, 4], pa.int64()),
        "x": pa.array([0.5, -1.25, None, 3.0], pa.float64()),
        "name": pa.array(["a", "b,c", None, "é"], pa.string()),
        "ok": pa.array([True, False, True, None], pa.bool_()),
    }
)
NAMES = ["t.csv", "t.parquet", "t.json", "t.jsonl", "t.arrow", "t.feather", "t.csv.gz", "t.jsonl.gz", "t.json.bz2"]


def _same(a: pa.Table, b: pa.Table) -> None:
    assert a.column_names == b.column_names
    for name in a.column_names:
        assert a.column(name).to_pylist() == b.column(name).to_pylist(), name


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("where", ["local", "memory"])
def test_round_trip(name: str, where: str, tmp_path: Path) -> None:
    uri = str(tmp_path / name) if where == "local" else f"memory://{uuid.uuid4().hex}/{name}"
    td.write(TABLE, uri)
    back = td.read(uri)
    _same(TABLE, back)
    assert back.schema.field("id").type == pa.int64()


def test_format_of() -> None:
    assert td.format_of("a/b/c.CSV") == "csv"
    assert td.format_of("x.tsv") == "csv"
    assert td.format_of("x.csv.gz") == "csv"
    assert td.format_of("s3://b/k/part.parquet") == "parquet"
    assert td.format_of("a.ndjson") == "jsonl"
    assert td.format_of("a.feather") == "arrow"
    assert td.format_of("a.JPEG") == "image"
    assert td.format_of("README.md") == "text"
    assert td.format_of("x.gz") is None
    assert td.format_of("Makefile") is None
    assert set(td.FORMATS) == {"csv", "parquet", "json", "jsonl", "arrow", "image", "text"}


def test_write_accepts_frames_and_rows(tmp_path: Path) -> None:
    df = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}, index=[10, 20])
    td.write(df, tmp_path / "pd.parquet")
    td.write(pl.DataFrame({"a": [1, 2], "b": ["x", "y"]}), tmp_path / "pl.parquet")
    td.write([{"a": 1, "b": "x"}, {"a": 2, "b": "y"}], tmp_path / "rows.parquet")
    for name in ("pd", "pl", "rows"):
        back = td.read(tmp_path / f"{name}.parquet")
        assert back.column_names == ["a", "b"], name
        assert back.column("a").to_pylist() == [1, 2]


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path: Path) -> None:
    td.write(TABLE, tmp_path / "out" / "t.parquet")
    td.write(TABLE.slice(0, 1), tmp_path / "out" / "t.parquet")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["t.parquet"]
    assert td.read(tmp_path / "out" / "t.parquet").num_rows == 1


def test_csv_options(tmp_path: Path) -> None:
    path = tmp_path / "semi.txt"
    path.write_text("a;b\n1;007\n2;010\n")
    table = td.read(path, "csv", delimiter=";", column_types={"b": "string"})
    assert table.column("b").to_pylist() == ["007", "010"]
    headless = tmp_path / "h.csv"
    headless.write_text("1,2\n3,4\n")
    assert td.read(headless, header=False).column_names == ["f0", "f1"]
    assert td.read(headless, column_names=["p", "q"]).column("q").to_pylist() == [2, 4]


def test_parquet_column_projection_and_batches(tmp_path: Path) -> None:
    big = pa.table({"a": list(range(10_000)), "b": [str(i) for i in range(10_000)]})
    td.write(big, tmp_path / "big.parquet", row_group_size=3000)
    src = td.FileSource(tmp_path / "big.parquet", columns=["a"])
    assert src.schema().names == ["a"]
    sizes = [b.num_rows for b in src.iter_batches(4096)]
    assert sum(sizes) == 10_000 and max(sizes) <= 4096
    assert src.num_rows() == 10_000


def test_csv_batches_are_cut_to_size(tmp_path: Path) -> None:
    td.write(pa.table({"a": list(range(1000))}), tmp_path / "n.csv")
    sizes = [b.num_rows for b in td.FileSource(tmp_path / "n.csv").iter_batches(300)]
    assert sizes == [300, 300, 300, 100]


def test_arrow_stream_format_is_read_too(tmp_path: Path) -> None:
    path = tmp_path / "s.arrows"
    with pa.OSFile(str(path), "wb") as f, pa.ipc.new_stream(f, TABLE.schema) as w:
        w.write_table(TABLE)
    _same(TABLE, td.read(path))


def test_folder_of_parquet_parts_unifies_types(tmp_path: Path) -> None:
    folder = tmp_path / "parts"
    td.write(pa.table({"a": [1, 2]}), folder / "p1.parquet")
    td.write(pa.table({"a": [2.5], "b": ["new"]}), folder / "p2.parquet")
    (folder / "_SUCCESS").write_text("")
    (folder / ".hidden.parquet").write_bytes(b"junk")
    src = td.FileSource(folder)
    assert src.schema() == pa.schema([("a", pa.float64()), ("b", pa.string())])
    table = src.to_arrow()
    assert table.column("a").to_pylist() == [1.0, 2.0, 2.5]
    assert table.column("b").to_pylist() == [None, None, "new"]
    assert "2 files" in src.describe()


def test_glob_and_mixed_folder(tmp_path: Path) -> None:
    td.write(pa.table({"a": [1]}), tmp_path / "m" / "one.csv")
    td.write(pa.table({"a": [2]}), tmp_path / "m" / "two.csv")
    td.write(pa.table({"a": [3]}), tmp_path / "m" / "three.parquet")
    with pytest.raises(InvalidArgument, match=r"several formats \(csv, parquet\)"):
        td.FileSource(tmp_path / "m")
    assert td.read(str(tmp_path / "m" / "*.csv")).column("a").to_pylist() == [1, 2]
    assert td.read(tmp_path / "m", "parquet").column("a").to_pylist() == [3]
    with pytest.raises(InvalidArgument, match="no file matches"):
        td.read(str(tmp_path / "m" / "*.jsonl"))


# -- malformed input ---------------------------------------------------------------------------


def test_bad_csv_names_file_and_row(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("a,b\n1,2\n3,4\n5\n6,7\n")
    with pytest.raises(InvalidArgument, match=r"bad\.csv: row 4 has 1 column\(s\), the header has 2") as err:
        td.read(path)
    assert str(path) in err.value.message


def test_csv_type_change_suggests_column_types(tmp_path: Path) -> None:
    path = tmp_path / "drift.csv"
    path.write_text("a\n" + "1\n" * 700_000 + "x\n")  # past the first 1 MiB block that types are inferred from
    with pytest.raises(InvalidArgument, match=r"drift\.csv.*column_types"):
        list(td.FileSource(path).iter_batches())


def test_truncated_parquet(tmp_path: Path) -> None:
    good = tmp_path / "good.parquet"
    td.write(TABLE, good)
    bad = tmp_path / "cut.parquet"
    bad.write_bytes(good.read_bytes()[:-20])
    with pytest.raises(InvalidArgument, match=r"cut\.parquet is not a readable Parquet file"):
        td.read(bad)


def test_not_arrow(tmp_path: Path) -> None:
    bad = tmp_path / "x.arrow"
    bad.write_bytes(b"definitely not arrow")
    with pytest.raises(InvalidArgument, match=r"x\.arrow is not a readable Arrow IPC file"):
        td.read(bad)


def test_bad_json_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2}\n{"a": 3,,}\n{"a": 4}\n')
    with pytest.raises(InvalidArgument, match=r"events\.jsonl: line 4: invalid JSON"):
        td.read(path)
    gz = tmp_path / "events.jsonl.gz"
    gz.write_bytes(gzip.compress(b'{"a": 1}\n[1, 2]\n'))
    with pytest.raises(InvalidArgument, match=r"events\.jsonl\.gz: line 2: expected a JSON object"):
        td.read(gz)


def test_bad_json_document(tmp_path: Path) -> None:
    path = tmp_path / "doc.json"
    path.write_text('[{"a": 1},\n {"a": }]')
    with pytest.raises(InvalidArgument, match=r"doc\.json: line 2, column"):
        td.read(path)
    (tmp_path / "obj.json").write_text('{"a": 1}')
    with pytest.raises(InvalidArgument, match=r"obj\.json must hold a JSON array of objects"):
        td.read(tmp_path / "obj.json")
    (tmp_path / "mixed.json").write_text('[{"a": 1}, {"a": "x"}]')
    with pytest.raises(InvalidArgument, match=r"mixed\.json have mixed types"):
        td.read(tmp_path / "mixed.json")


def test_missing_path_unknown_format_and_options(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="no file or folder at"):
        td.read(tmp_path / "nope.csv")
    (tmp_path / "data.bin").write_bytes(b"x")
    with pytest.raises(InvalidArgument, match="pass format="):
        td.read(tmp_path / "data.bin")
    with pytest.raises(InvalidArgument, match="unknown format 'xml'"):
        td.read(tmp_path / "data.bin", "xml")
    td.write(TABLE, tmp_path / "t.csv")
    with pytest.raises(InvalidArgument, match=r"unknown option\(s\) sheet for format 'csv'"):
        td.read(tmp_path / "t.csv", sheet=1)
    with pytest.raises(InvalidArgument, match="cannot write format 'image'"):
        td.write(TABLE, tmp_path / "x.png")
    with pytest.raises(InvalidArgument, match="pass format="):
        td.write(TABLE, tmp_path / "noext")
    with pytest.raises(InvalidArgument, match="no csv files"):
        (tmp_path / "empty").mkdir()
        td.read(tmp_path / "empty", "csv")
