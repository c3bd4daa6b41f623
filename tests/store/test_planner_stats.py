"""SQLite's planner statistics are kept current, so a run search starts from its most selective term."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.dialects import sqlite

from treadle.store import Store, _stats
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


def _search_plan(store: Store, experiment: str, filter: str) -> list[str]:
    query = search_statement((int(experiment),), "active", filter, ("metrics.m1 DESC",))
    sql = query.params(limit=101, offset=0).compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True})
    with store.read() as conn:
        return [row[3] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")]


def test_one_large_experiment_among_small_ones_does_not_hide_a_rare_param(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 't.db'}")
    tracking = TrackingService(store, str(tmp_path / "blobs"))
    rng = np.random.default_rng(1)
    small = [tracking.create_experiment(f"small-{i}") for i in range(12)]
    for exp in small:
        tracking.create_run(exp.id)
    big = tracking.create_experiment("big")
    for _ in range(500):
        run = tracking.create_run(big.id)
        metrics = [Metric(key=f"m{k}", value=float(rng.random()), step=0, timestamp=1) for k in range(2)]
        tracking.log_batch(run.id, metrics=metrics, params={f"p{j}": f"v{rng.integers(10)}" for j in range(3)})
    store.analyze()
    with store.read() as conn:
        stat = conn.exec_driver_sql(
            "SELECT stat FROM sqlite_stat1 WHERE idx = 'ix_runs_experiment_lifecycle_start'"
        ).scalar_one()
    # the average experiment holds ~40 runs; the planner is told of the largest, 500
    assert [int(n) for n in stat.split()[1:3]] == [500, 500], stat
    plan = _search_plan(store, big.id, "metrics.m0 > 0.5 and params.p1 = 'v3'")
    assert "ix_run_params_key_value" in plan[0], plan
    # with no filter term to start from, the experiment's index still serves the listing
    assert "ix_runs_experiment_lifecycle_start" in _search_plan(store, big.id, "")[0]
    found = tracking.search_runs([big.id], filter="metrics.m0 > 0.5 and params.p1 = 'v3'")
    assert found.runs and all(r.params["p1"] == "v3" and r.metrics["m0"] > 0.5 for r in found.runs)


def test_statistics_are_refreshed_while_one_table_grows_fast(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_stats, "ANALYZE_AT_MOST_EVERY", 2000)
    store = Store(f"sqlite:///{tmp_path / 't.db'}")
    tracking = TrackingService(store, str(tmp_path / "blobs"))
    exp = tracking.create_experiment("points")
    run = tracking.create_run(exp.id)
    # 20,000 points: with doubling alone the refreshes would stop at 16,000 rows and wait for 32,000
    tracking.log_batch(run.id, metrics=[Metric(key="loss", value=float(i), step=i, timestamp=1) for i in range(20_000)])
    for i in range(300):
        tracking.log_batch(tracking.create_run(exp.id).id, params={f"p{j}": str(i % 7) for j in range(10)})
    with store.read() as conn:
        stat = conn.exec_driver_sql("SELECT stat FROM sqlite_stat1 WHERE idx = 'ix_run_params_key_value'").scalar()
    assert stat is not None and int(stat.split()[0]) >= 1000, stat
