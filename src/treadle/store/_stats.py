"""SQLite's planner statistics (``sqlite_stat1``), kept current as PostgreSQL's autovacuum keeps its own.

Without statistics SQLite guesses every index equally selective, and a search such as
``params.p = 'x' and metrics.m > 0.5`` may scan every run instead of starting from the rare param.
SQLite never refreshes them by itself, so the store runs a bounded ``ANALYZE`` (``analysis_limit``:
milliseconds whatever the size) when it opens a database that has none, then as this process
changes rows: each time they double while the store is small (1,000, 2,000, 4,000, ...), and every
:data:`ANALYZE_AT_MOST_EVERY` rows after that, so one table growing fast (metric points) cannot
leave another's statistics (params, runs) stale for long.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import Connection

from treadle.store._schema import metadata

# ANALYZE reads at most this many entries of each index: bounded cost, estimates good enough to
# pick the most selective index (a search's filter terms) whatever the store's size.
SQLITE_ANALYSIS_LIMIT = 1000
ANALYZE_FIRST_AFTER = 1000  # rows changed in this process before the first refresh
ANALYZE_AT_MOST_EVERY = 50_000  # rows changed between two refreshes once the store is large


def analyze(conn: Connection) -> None:
    """Refresh the statistics, then correct those of indexes flagged as skewed."""
    conn.exec_driver_sql("ANALYZE")
    for table in metadata.tables.values():
        for index in table.indexes:
            if index.info.get("skewed"):
                _plan_for_the_largest_group(conn, table.name, str(index.name), [c.name for c in index.columns])


def _plan_for_the_largest_group(conn: Connection, table: str, index: str, columns: list[str]) -> None:
    """ANALYZE records, per leading columns of an index, the AVERAGE rows a value holds. Where one
    value may hold most rows (one experiment with nearly every run, next to a few small ones), the
    average makes that index look selective and SQLite starts a filtered search from "all runs of
    the experiment" rather than from the filter's rare term; the largest group is the honest figure.
    SQLite documents sqlite_stat1 as editable for this kind of tuning."""
    row = conn.exec_driver_sql("SELECT stat FROM sqlite_stat1 WHERE tbl = ? AND idx = ?", (table, index)).first()
    if row is None:
        return
    stat = str(row[0]).split(" ")  # "total per-1-column per-2-columns ..." then optional keywords
    total = int(stat[0])
    for k in range(1, min(len(columns), len(stat) - 1)):  # prefixes short of the whole index
        group = ", ".join(f'"{c}"' for c in columns[:k])
        largest = conn.exec_driver_sql(f'SELECT max(n) FROM (SELECT count(*) AS n FROM "{table}" GROUP BY {group})')
        stat[k] = str(max(int(stat[k]), min(int(largest.scalar() or 0), total)))
    conn.exec_driver_sql("UPDATE sqlite_stat1 SET stat = ? WHERE tbl = ? AND idx = ?", (" ".join(stat), table, index))


class PlannerStats:
    """Counts the rows a store's writes change and refreshes the statistics when due (``refresh``)."""

    def __init__(self, analyzed: bool, refresh: Callable[[], None]) -> None:
        self._refresh = refresh
        self._lock = threading.Lock()
        self._changed = 0
        self._next = ANALYZE_FIRST_AFTER
        if not analyzed:
            refresh()

    def count(self, changed: int) -> None:
        with self._lock:
            self._changed += changed
            due = self._changed >= self._next
            if due:
                self._next = self._changed + min(self._changed, ANALYZE_AT_MOST_EVERY)
        if due:
            self._refresh()
