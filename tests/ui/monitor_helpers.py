"""Seed data for the monitor pages, written through the monitors service as a runner would:
``churn-drift`` with a reference and six windows (the last three drift on ``tenure``, firing its
drift-share alert), ``idle`` with no windows yet, and ``broken`` whose last run failed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from treadle import Client
from treadle.monitors import (
    AlertRule,
    ColumnDrift,
    DriftConfig,
    MonitorSpec,
    QualityReport,
    ReferenceInfo,
    WindowReport,
    WindowSpec,
)

WATCHED, IDLE, BROKEN = "churn-drift", "idle", "broken"
START = 1_700_000_000_000
MINUTE = 60_000
EDGES = [-3.0, -1.5, 0.0, 1.5, 3.0]
REFERENCE_COUNTS = [60, 440, 430, 70]
SHIFTED_COUNTS = [5, 95, 520, 380]


@dataclass
class MonitorSeed:
    uri: str
    artifacts: str
    drifted_windows: int = 3


def window(i: int, drifted: bool) -> WindowReport:
    """Window ``i`` (one minute): tenure (numeric, KS) drifts when ``drifted``; plan (categorical) never."""
    current = SHIFTED_COUNTS if drifted else REFERENCE_COUNTS
    tenure = ColumnDrift(
        column="tenure", kind="numeric", test="ks", statistic=0.31 if drifted else 0.02 + 0.01 * i,
        p_value=1e-9 if drifted else 0.6, threshold=0.05, drifted=drifted,
        detail={"edges": EDGES, "reference": REFERENCE_COUNTS, "current": current},
    )  # fmt: skip
    plan = ColumnDrift(
        column="plan", kind="categorical", test="jensenshannon", statistic=0.03, threshold=0.1, drifted=False,
        detail={"categories": ["basic", "pro", "team"], "reference": [500, 300, 200], "current": [480, 320, 200]},
    )  # fmt: skip
    constant = ColumnDrift(column="region_id", kind="numeric", test="ks", threshold=0.05, drifted=False,
                           note="constant in the reference and the window")  # fmt: skip
    prediction = ColumnDrift(column="prediction", kind="categorical", test="chisquare",
                             statistic=4.0 if drifted else 0.5, p_value=0.04 if drifted else 0.7,
                             threshold=0.05, drifted=drifted)  # fmt: skip
    columns = [tenure, plan, constant]
    return WindowReport(
        monitor=WATCHED, start_ms=START + i * MINUTE, end_ms=START + (i + 1) * MINUTE, rows=1000,
        drift_share=sum(c.drifted for c in columns) / len(columns), dataset_drift=drifted,
        columns=columns, prediction=prediction,
        quality=QualityReport(rows=1000, missing={"tenure": 0.01 * i}, missing_share=0.005 * i,
                              unseen_categories={"plan": ["enterprise"]} if drifted else {}),
        labelled=200, performance={"accuracy": 0.9 - (0.2 if drifted else 0.0)},
        estimated={"accuracy": 0.88 - (0.15 if drifted else 0.0)},
    )  # fmt: skip


def seed_monitors(root: Path) -> MonitorSeed:
    uri, artifacts = f"sqlite:///{root / 'm.db'}", str(root / "art")
    client = Client(uri=uri, artifacts=artifacts)
    service = client.monitors
    rules = [AlertRule(name="too-much-drift", metric="drift_share", op=">=", threshold=0.3),
             AlertRule(name="accuracy-drop", metric="performance.accuracy", op="<", threshold=0.5)]  # fmt: skip
    service.create_monitor(
        MonitorSpec(
            name=WATCHED,
            deployment="churn",
            target="churned",
            window=WindowSpec(kind="count", rows=1000),
            drift=DriftConfig(drift_share=0.3),
            alerts=rules,
        )
    )
    reference = ReferenceInfo(
        dataset="churn-train", version=1, rows=1000, found_by="lineage", profile_digest="0" * 64,
        columns={"tenure": "numeric", "plan": "categorical", "region_id": "numeric"}, prediction="categorical",
    )  # fmt: skip
    service.set_reference(WATCHED, reference)
    for i in range(6):
        report = window(i, drifted=i >= 3)
        service.record_window(report, cursor_ms=report.end_ms)
    service.create_monitor(MonitorSpec(name=IDLE, deployment="fraud"))
    service.create_monitor(MonitorSpec(name=BROKEN, deployment="churn"))
    service.record_error(BROKEN, "the request log of deployment 'churn' has no column 'tenure'")
    return MonitorSeed(uri, artifacts)
