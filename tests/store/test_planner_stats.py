"""SQLite's planner statistics are kept current, so a run search starts from its most selective term."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sqlalchemy.dialects import sqlite

from treadle.store import Store
from treadle.tracking import Metric, TrackingService
from treadle.tracking._search import search_statement


def _stat_tables(store: Store) -> set[str]:
    with store.read() as conn:
        return {row[0] for row in conn.exec_driver_sql("SELECT DISTINCT tbl FROM sqlite_stat1")}


def test_statistics_follow_the_data_and_the_search_starts_from_the_rare_param(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 't.db'}")
    assert "run_params" not in _stat_tables(store)  # analyzed when opened, while still empty
    tracking = TrackingService(store, str(tmp_path / "blobs"))
    exp = tracking.create_experiment("stats")
    rng = np.random.default_rng(0)
    for i in range(300):
        run = tracking.create_run(exp.id, name=f"r{i}")
        metrics = [Metric(key=f"m{k}", value=float(rng.random()), step=0, timestamp=1) for k in range(5)]
        tracking.log_batch(run.id, metrics=metrics, params={f"p{j}": f"v{rng.integers(10)}" for j in range(10)})
    # refreshed by itself as the rows doubled: the param and metric indexes now have statistics
    assert {"runs", "run_params", "latest_metrics"} <= _stat_tables(store)

    query = search_statement((int(exp.id),), "active", "metrics.m0 > 0.5 and params.p1 = 'v3'", ("metrics.m1 DESC",))
    sql = query.params(limit=101, offset=0).compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True})
    with store.read() as conn:  # a pooled connection, opened before the last refresh
        plan = [row[3] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")]
    # the first loop reads the one param value's entries (~10%), not every run or the metric range (~50%)
    assert "ix_run_params_key_value" in plan[0], plan
    assert len(tracking.search_runs([exp.id], filter="metrics.m0 > 0.5 and params.p1 = 'v3'")) > 0


def test_a_store_without_statistics_is_analyzed_when_opened(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 't.db'}"
    store = Store(uri)
    tracking = TrackingService(store, str(tmp_path / "blobs"))
    exp = tracking.create_experiment("old")
    for i in range(20):
        tracking.log_batch(tracking.create_run(exp.id).id, params={"p": str(i % 3)})
    with store.write() as conn:  # as a database made before the store kept statistics
        conn.exec_driver_sql("DROP TABLE sqlite_stat1")
    store.dispose()
    assert "run_params" in _stat_tables(Store(uri))
