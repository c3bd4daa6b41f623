"""SQL connector, sink and checkpoint on a real SQLite file and the real PostgreSQL."""

from __future__ import annotations

import uuid
from pathlib import Path

import pyarrow as pa
import pytest
import sqlalchemy as sa

import treadle.data as td
from treadle.errors import InvalidArgument


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def orders(db_url: str) -> str:
    """A fresh ``orders`` table (unique name) with 2,500 rows."""
    name = f"orders_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(f"CREATE TABLE {name} (id INTEGER PRIMARY KEY, customer TEXT, amount DOUBLE PRECISION, ts BIGINT)")
        )
        conn.execute(
            sa.text(f"INSERT INTO {name} VALUES (:id, :customer, :amount, :ts)"),
            [
                {
                    "id": i,
                    "customer": None if i % 10 == 0 else f"c{i % 7}",
                    "amount": i / 4,
                    "ts": 1_767_225_600_000 + i * 60_000,
                }
                for i in range(2500)
            ],
        )
    engine.dispose()
    return name


def test_query_streams_batches_with_params(db_url: str, orders: str) -> None:
    src = td.SqlSource(
        db_url, f"SELECT id, customer, amount, ts FROM {orders} WHERE id >= :lo ORDER BY id", {"lo": 500}
    )
    sizes = [b.num_rows for b in src.iter_batches(600)]
    assert sizes == [600, 600, 600, 200]
    table = src.to_arrow()
    assert table.num_rows == 2000
    assert table.column("id").to_pylist()[:3] == [500, 501, 502]
    assert table.column("customer").to_pylist()[0] is None
    assert table.column("amount").to_pylist()[1] == 125.25
    assert table.column("ts").to_pylist()[0] == 1_767_225_600_000 + 500 * 60_000
    assert src.schema().names == ["id", "customer", "amount", "ts"]


def test_empty_result_and_bad_query(db_url: str, orders: str) -> None:
    empty = td.SqlSource(db_url, f"SELECT id, customer FROM {orders} WHERE id < 0")
    table = empty.to_arrow()
    assert table.num_rows == 0 and table.column_names == ["id", "customer"]
    with pytest.raises(InvalidArgument, match="query failed") as err:
        td.SqlSource(db_url, "SELECT nope FROM missing_table").to_arrow()
    assert "missing_table" in err.value.message
    with pytest.raises(InvalidArgument, match="needs a query"):
        td.SqlSource(db_url, "  ")


def test_spec_masks_password_and_env_urls_work(monkeypatch: pytest.MonkeyPatch, pg_url: str) -> None:
    src = td.SqlSource("postgresql+psycopg://bob:s3cret@db.example:5432/x", "SELECT 1")
    assert src.spec()["url"] == "postgresql+psycopg://bob:***@db.example:5432/x"
    assert "s3cret" not in src.describe()
    with pytest.raises(InvalidArgument, match=r"password masked .* \$\{VAR\}"):
        td.source_from_spec(src.spec()).to_arrow()
    # the real server, with its URL coming from the environment: the spec keeps the reference only
    monkeypatch.setenv("TREADLE_TEST_DB", pg_url)
    env_src = td.SqlSource("${TREADLE_TEST_DB}", "SELECT 41 + 1 AS answer")
    again = td.source_from_spec(env_src.spec())
    assert again.spec()["url"] == "${TREADLE_TEST_DB}"
    assert again.to_arrow().column("answer").to_pylist() == [42]
    monkeypatch.delenv("TREADLE_TEST_DB")
    with pytest.raises(InvalidArgument, match="needs environment variable"):
        again.to_arrow()


def test_sql_sink_is_idempotent_per_batch(db_url: str) -> None:
    table = f"sink_{uuid.uuid4().hex[:8]}"
    sink = td.SqlSink(db_url, table)
    batch = pa.table({"k": [1, 2], "v": [0.5, 1.5], "s": ["a", None], "t": pa.array([1, 2], pa.timestamp("us", "UTC"))})
    sink.write("b0", batch)
    sink.write("b1", batch.slice(1))
    sink.write("b0", batch)  # rewrite after a "crash": replaces, does not duplicate
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text(f"SELECT k, v, s, _batch_id FROM {table} ORDER BY _batch_id, k")).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [(1, 0.5, "a", "b0"), (2, 1.5, None, "b0"), (2, 1.5, None, "b1")]
    fresh = td.SqlSink(db_url, table)  # reflects the existing table
    with pytest.raises(InvalidArgument, match="has no column"):
        fresh.write("b2", pa.table({"other": [1]}))
    with pytest.raises(InvalidArgument, match="not a plain SQL identifier"):
        td.SqlSink(db_url, "x; DROP TABLE y")


def test_sql_checkpoint(db_url: str) -> None:
    name = f"ckpt-{uuid.uuid4().hex[:8]}"
    ckpt = td.SqlCheckpoint(db_url, name)
    assert ckpt.load() is None
    ckpt.commit({"offset": "1-0", "batches": 1})
    ckpt.commit({"offset": "5-2", "batches": 2})
    assert td.SqlCheckpoint(db_url, name).load() == {"offset": "5-2", "batches": 2}
    assert td.SqlCheckpoint(db_url, name + "-other").load() is None


def test_file_checkpoint(tmp_path: Path) -> None:
    ckpt = td.FileCheckpoint(tmp_path / "c" / "state.json")
    assert ckpt.load() is None
    ckpt.commit({"offset": "9-0"})
    assert td.FileCheckpoint(tmp_path / "c" / "state.json").load() == {"offset": "9-0"}
    assert [p.name for p in (tmp_path / "c").iterdir()] == ["state.json"]
    (tmp_path / "c" / "state.json").write_text("{broken")
    with pytest.raises(InvalidArgument, match="unreadable"):
        ckpt.load()
