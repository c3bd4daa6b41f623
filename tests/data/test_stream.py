"""Redis Streams through the local Redis: push, read in consumer groups, and exactly-once
micro-batches — in-process crashes here, SIGKILLed consumer processes in the slow test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
import redis

import treadle.data as td
from treadle.errors import InvalidArgument


@td.transform
def enrich(t: pa.Table) -> pa.Table:
    return t.append_column("double", pc.multiply(t.column("v"), 2))


class Crash(Exception):
    pass


class CrashAfterCommit(td.FileCheckpoint):
    """Commits, then dies (an exception here) before the stream acknowledgement — once."""

    def __init__(self, path: Path, after: int) -> None:
        super().__init__(path)
        self.left = after

    def commit(self, state: dict[str, Any]) -> None:
        super().commit(state)
        self.left -= 1
        if self.left == 0:
            raise Crash("after commit")


def _push(url: str, key: str, n: int, start: int = 0) -> list[str]:
    return td.push_to_stream(url, key, ({"i": i, "v": i * 0.5, "tag": f"t{i % 3}"} for i in range(start, start + n)))


def _ids_in(folder: Path) -> list[int]:
    return sorted(td.read(folder).column("i").to_pylist()) if any(folder.glob("*.parquet")) else []


def test_push_and_read_the_whole_stream(redis_url: str, stream_key: str) -> None:
    ids = _push(redis_url, stream_key, 1500)
    assert len(ids) == 1500 and len(set(ids)) == 1500
    src = td.RedisStreamSource(redis_url, stream_key, id_column="entry")
    assert src.num_rows() == 1500
    assert [b.num_rows for b in src.iter_batches(600)] == [600, 600, 300]
    table = src.to_arrow()
    assert table.column("i").to_pylist() == list(range(1500))
    assert table.column("entry").to_pylist() == ids
    assert table.schema.field("v").type == pa.float64()
    raw = redis.Redis.from_url(redis_url)
    raw.xadd(stream_key, {"i": "1500", "v": "not json", "tag": "x"})  # kept as a string: v no longer fits
    raw.close()
    with pytest.raises(InvalidArgument, match=r"entries .* of stream 'treadle-test:.*' do not fit one schema"):
        td.RedisStreamSource(redis_url, stream_key).to_arrow()
    typed = td.RedisStreamSource(redis_url, stream_key, schema=pa.schema([("i", pa.int64()), ("tag", pa.string())]))
    assert typed.to_arrow().slice(1499).to_pylist() == [{"i": 1499, "tag": "t2"}, {"i": 1500, "tag": "x"}]


def test_unacknowledged_batch_comes_back_with_the_same_id(redis_url: str, stream_key: str) -> None:
    ids = _push(redis_url, stream_key, 10)
    first = td.RedisStreamSource(redis_url, stream_key, "g", "c1").read_batch(4)
    assert first is not None and first.ids == tuple(ids[:4]) and first.batch_id == ids[0]
    again = td.RedisStreamSource(redis_url, stream_key, "g", "c1")  # "restarted" consumer
    redelivered = again.read_batch(4)
    assert redelivered is not None
    assert (redelivered.batch_id, redelivered.ids) == (first.batch_id, first.ids)
    assert redelivered.table.equals(first.table)
    again.ack(redelivered.ids)
    nxt = again.read_batch(4, block_ms=10)
    assert nxt is not None and nxt.ids == tuple(ids[4:8])
    other = td.RedisStreamSource(redis_url, stream_key, "g", "c2").read_batch(10, block_ms=10)
    assert other is not None and other.ids == tuple(ids[8:])  # consumers of a group share the work
    assert td.RedisStreamSource(redis_url, stream_key, "g", "c3").read_batch(10, block_ms=10) is None
    assert again.pending_count() == 6


def test_pending_entries_deleted_meanwhile_are_dropped(redis_url: str, stream_key: str) -> None:
    ids = _push(redis_url, stream_key, 5)
    assert td.RedisStreamSource(redis_url, stream_key, "g", "c").read_batch(5) is not None
    raw = redis.Redis.from_url(redis_url)
    raw.xdel(stream_key, ids[0], ids[2])
    raw.close()
    src = td.RedisStreamSource(redis_url, stream_key, "g", "c")
    batch = src.read_batch(5)
    assert batch is not None and batch.ids == (ids[1], ids[3], ids[4])
    assert src.pending_count() == 3


def test_run_stream_exactly_once_across_in_process_crashes(redis_url: str, stream_key: str, tmp_path: Path) -> None:
    _push(redis_url, stream_key, 230)
    out, state = tmp_path / "out", tmp_path / "ckpt.json"
    parquet = td.ParquetSink(out)
    writes: list[str] = []

    def crash_on_third(batch_id: str, table: pa.Table) -> None:
        parquet.write(batch_id, table)
        writes.append(batch_id)
        if len(writes) == 3:
            raise Crash("after the sink write, before the checkpoint")

    def stream() -> td.RedisStreamSource:
        return td.RedisStreamSource(redis_url, stream_key, "g", "worker")

    with pytest.raises(Crash):
        enrich.run_stream(stream(), td.CallableSink(crash_on_third), checkpoint=td.FileCheckpoint(state), batch_size=20)
    assert td.FileCheckpoint(state).load()["batches"] == 2
    assert len(_ids_in(out)) == 60  # the sink is one batch ahead of the checkpoint

    with pytest.raises(Crash):  # the re-delivered batch is rewritten under its id, then one more
        enrich.run_stream(stream(), parquet, checkpoint=CrashAfterCommit(state, after=2), batch_size=20)

    stats = enrich.run_stream(stream(), parquet, checkpoint=td.FileCheckpoint(state), batch_size=20, max_batches=3)
    assert (stats.batches, stats.skipped) == (3, 20)  # the committed-but-unacked batch is skipped
    _push(redis_url, stream_key, 20, start=230)
    rest = enrich.run_stream(
        stream(), parquet, checkpoint=td.FileCheckpoint(state), batch_size=20, until_idle=True, block_ms=50
    )
    assert (rest.batches, rest.rows) == (6, 110)  # 250 - 7 batches of 20
    table = td.read(out)
    assert sorted(table.column("i").to_pylist()) == list(range(250))
    assert all(
        d == v * 2 for d, v in zip(table.column("double").to_pylist(), table.column("v").to_pylist(), strict=True)
    )
    final = td.FileCheckpoint(state).load()
    assert final is not None and final["rows"] == 250 and final["batches"] == 13
    assert stream().pending_count() == 0


def test_run_stream_into_sql_with_sql_checkpoint(redis_url: str, stream_key: str, tmp_path: Path) -> None:
    import sqlalchemy as sa

    _push(redis_url, stream_key, 45)
    db = f"sqlite:///{tmp_path / 'sink.db'}"
    sink, ckpt = td.SqlSink(db, "events"), td.SqlCheckpoint(db, "events-consumer")
    src = td.RedisStreamSource(redis_url, stream_key, "g", "w")
    first = src.read_batch(10)  # read, "crash" before anything was written
    assert first is not None
    stats = enrich.run_stream(
        td.RedisStreamSource(redis_url, stream_key, "g", "w"),
        sink,
        checkpoint=ckpt,
        batch_size=10,
        until_idle=True,
        block_ms=50,
    )
    assert (stats.batches, stats.rows) == (5, 45)
    engine = sa.create_engine(db)
    with engine.connect() as conn:
        got = [r[0] for r in conn.execute(sa.text("SELECT i FROM events ORDER BY i"))]
        first_batch = conn.execute(
            sa.text("SELECT count(*) FROM events WHERE _batch_id = :b"), {"b": first.batch_id}
        ).scalar()
    engine.dispose()
    assert got == list(range(45)) and first_batch == 10


def test_checkpoint_belongs_to_one_consumer(redis_url: str, stream_key: str, tmp_path: Path) -> None:
    _push(redis_url, stream_key, 3)
    ckpt = td.FileCheckpoint(tmp_path / "c.json")
    sink = td.ParquetSink(tmp_path / "o")
    enrich.run_stream(
        td.RedisStreamSource(redis_url, stream_key, "g", "a"), sink, checkpoint=ckpt, until_idle=True, block_ms=10
    )
    with pytest.raises(InvalidArgument, match="use one checkpoint per stream consumer"):
        enrich.run_stream(td.RedisStreamSource(redis_url, stream_key, "g", "b"), sink, checkpoint=ckpt, max_batches=1)


_CONSUMER = """
import os, sys, time
import pyarrow as pa
import pyarrow.compute as pc
import treadle.data as td

url, key, out, state = sys.argv[1:5]
crash_after_sink = int(os.environ.get("CRASH_AFTER_SINK", "0"))
crash_after_commit = int(os.environ.get("CRASH_AFTER_COMMIT", "0"))
pause = float(os.environ.get("SINK_SLEEP", "0"))


@td.transform
def enrich(t: pa.Table) -> pa.Table:
    return t.append_column("double", pc.multiply(t.column("v"), 2))


parquet = td.ParquetSink(out)
writes = 0


def write(batch_id, table):
    global writes
    parquet.write(batch_id, table)
    writes += 1
    if writes == crash_after_sink:
        os._exit(17)  # the batch is in the sink, the checkpoint does not know it
    time.sleep(pause)  # a SIGKILL landing here hits the same window


class Checkpoint(td.FileCheckpoint):
    commits = 0

    def commit(self, state):
        super().commit(state)
        Checkpoint.commits += 1
        if Checkpoint.commits == crash_after_commit:
            os._exit(18)  # committed, not yet acknowledged in Redis


stats = enrich.run_stream(
    td.RedisStreamSource(url, key, "g", "worker-1"), td.CallableSink(write),
    checkpoint=Checkpoint(state), batch_size=50, block_ms=300, until_idle=True,
)
print(stats.batches, stats.rows, stats.skipped)
"""


@pytest.mark.slow
def test_killed_consumer_process_neither_loses_nor_repeats(redis_url: str, stream_key: str, tmp_path: Path) -> None:
    n = 1000
    _push(redis_url, stream_key, n)
    script, out, state = tmp_path / "consumer.py", tmp_path / "out", tmp_path / "state.json"
    script.write_text(_CONSUMER)
    args = [sys.executable, str(script), redis_url, stream_key, str(out), str(state)]

    def run(**env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, env={**os.environ, **env}, capture_output=True, text=True, timeout=120)

    first = run(CRASH_AFTER_SINK="3")
    assert first.returncode == 17, first.stderr
    assert len(list(out.glob("part-*.parquet"))) == 3 and td.FileCheckpoint(state).load()["batches"] == 2

    second = run(CRASH_AFTER_COMMIT="2")
    assert second.returncode == 18, second.stderr
    assert td.FileCheckpoint(state).load()["batches"] == 4

    proc = subprocess.Popen(
        args, env={**os.environ, "SINK_SLEEP": "0.15"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while (td.FileCheckpoint(state).load() or {}).get("batches", 0) < 8:
        assert proc.poll() is None and time.monotonic() < deadline, "the consumer stopped early"
        time.sleep(0.02)
    time.sleep(0.05)  # most likely inside the sink's pause: written, not committed
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL

    last = run()
    assert last.returncode == 0, last.stderr
    ids = _ids_in(out)
    assert len(ids) == n and ids == list(range(n))  # every record exactly once
    final = td.FileCheckpoint(state).load()
    assert final is not None and final["rows"] == n and final["batches"] == n // 50
    assert td.RedisStreamSource(redis_url, stream_key, "g", "worker-1").pending_count() == 0
