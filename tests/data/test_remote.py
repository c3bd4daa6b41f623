"""Files over real remote filesystems: a local HTTP server, moto's S3 server, ``memory://``; DuckDB
reads the same URIs through registered fsspec filesystems (no httpfs extension)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pyarrow as pa
import pytest

import treadle.data as td
from treadle.errors import InvalidArgument

TABLE = pa.table({"k": [1, 2, 3], "v": ["a", "b", "c"]})


@pytest.mark.parametrize("name", ["t.parquet", "t.csv", "t.jsonl", "t.arrow", "t.csv.gz"])
def test_http_file(http_site: tuple[Path, str], name: str) -> None:
    root, base = http_site
    td.write(TABLE, root / name)
    src = td.FileSource(f"{base}/{name}")
    assert src.schema().names == ["k", "v"]
    assert src.to_arrow().column("v").to_pylist() == ["a", "b", "c"]
    assert src.spec() == {"kind": "file", "uri": f"{base}/{name}", "format": src.format}


def test_http_missing_and_corrupt(http_site: tuple[Path, str]) -> None:
    root, base = http_site
    with pytest.raises(InvalidArgument, match="no file or folder at 'http://"):
        td.read(f"{base}/missing.parquet")
    (root / "broken.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(InvalidArgument, match=rf"{base}/broken\.parquet is not a readable Parquet file"):
        td.read(f"{base}/broken.parquet")


def test_http_images(http_site: tuple[Path, str]) -> None:
    from PIL import Image

    root, base = http_site
    Image.new("RGB", (7, 5), "red").save(root / "red.png")
    table = td.read(f"{base}/red.png")
    assert table.select(["path", "width", "height", "format"]).to_pylist() == [
        {"path": f"{base}/red.png", "width": 7, "height": 5, "format": "PNG"}
    ]


def test_s3_file_folder_and_glob(s3_bucket: str) -> None:
    td.write(TABLE, f"s3://{s3_bucket}/data/part-0.parquet")
    td.write(TABLE.slice(1), f"s3://{s3_bucket}/data/part-1.parquet")
    td.write(TABLE, f"s3://{s3_bucket}/data/extra.csv")
    one = td.read(f"s3://{s3_bucket}/data/part-0.parquet")
    assert one.num_rows == 3
    folder = td.FileSource(f"s3://{s3_bucket}/data", "parquet")
    assert folder.uris == [f"s3://{s3_bucket}/data/part-0.parquet", f"s3://{s3_bucket}/data/part-1.parquet"]
    assert folder.num_rows() == 5
    assert sorted(folder.to_arrow().column("k").to_pylist()) == [1, 2, 2, 3, 3]
    assert td.read(f"s3://{s3_bucket}/data/*.csv").num_rows == 3
    infos = folder.file_infos()
    assert [i["path"] for i in infos] == folder.uris
    assert all(i["size"] > 0 and isinstance(i["mtime"], float) for i in infos)


def test_s3_secrets_are_masked_in_specs(s3_bucket: str) -> None:
    td.write(TABLE, f"s3://{s3_bucket}/x.parquet")
    src = td.FileSource(f"s3://{s3_bucket}/x.parquet", storage_options={"key": "test", "secret": "test"})
    spec = src.spec()
    assert spec["storage_options"] == {"key": "***", "secret": "***"}
    assert "test" not in str(spec)
    again = td.source_from_spec(spec)  # masked values dropped: credentials come from the environment
    assert again.to_arrow().equals(src.to_arrow())


def test_memory_folder_and_parquet_sink() -> None:
    root = f"memory://{uuid.uuid4().hex}"
    sink = td.ParquetSink(f"{root}/out")
    sink.write("b1", TABLE)
    sink.write("b2", TABLE.slice(2))
    sink.write("b1", TABLE.slice(0, 1))  # a rewrite replaces the part
    table = td.read(f"{root}/out")
    assert sorted(table.column("k").to_pylist()) == [1, 3]


def test_duckdb_reads_memory_and_s3_through_fsspec(s3_bucket: str) -> None:
    root = f"memory://{uuid.uuid4().hex}"
    td.write(TABLE, f"{root}/t.parquet")
    td.write(TABLE, f"s3://{s3_bucket}/t.parquet")
    mem = td.query(f"SELECT sum(k) AS s FROM read_parquet('{root}/t.parquet')")
    assert mem.column("s").to_pylist() == [6]
    s3 = td.query(f"SELECT v FROM read_parquet('s3://{s3_bucket}/t.parquet') ORDER BY k DESC")
    assert s3.column("v").to_pylist() == ["c", "b", "a"]
    con = td.duckdb_connect(f"s3://{s3_bucket}/t.parquet")
    loaded = con.execute("SELECT count(*) FROM duckdb_extensions() WHERE extension_name = 'httpfs' AND loaded")
    assert loaded.fetchone() == (0,)
    assert con.execute(f"SELECT count(*) FROM read_parquet('s3://{s3_bucket}/t.parquet')").fetchone() == (3,)
    con.close()


def test_duckdb_query_over_sources(tmp_path: Path) -> None:
    td.write(TABLE, tmp_path / "t.csv")
    rows = ({"k": i, "w": i * 10} for i in range(1, 4))
    out = td.query(
        "SELECT t.k, t.v, r.w FROM t JOIN r USING (k) ORDER BY k",
        t=td.FileSource(tmp_path / "t.csv"),
        r=td.IterableSource(rows),
    )
    assert out.to_pylist() == [{"k": 1, "v": "a", "w": 10}, {"k": 2, "v": "b", "w": 20}, {"k": 3, "v": "c", "w": 30}]
    with pytest.raises(InvalidArgument, match="query failed"):
        td.query("SELECT nope FROM t", t=TABLE)
