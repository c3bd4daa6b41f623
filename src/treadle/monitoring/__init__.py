"""Model monitoring: drift, data quality and performance of served models, alerts, and the runner
that evaluates a monitor's windows (in the server's scheduler, ``treadle monitor run``, or here).

Ad hoc: ``td.monitoring.drift(reference, current)`` returns a :class:`DriftReport`.
"""

from treadle.monitoring._drift import DriftReport, drift
from treadle.monitoring._profile import ColumnProfile, Profile, profile
from treadle.monitoring._sample import infer_kind
from treadle.monitoring._sdk import (
    create_monitor,
    delete_monitor,
    get_monitor,
    list_monitors,
    log_labels,
    run_due,
    run_monitor,
    windows,
)
from treadle.monitoring._tests import default_test
from treadle.monitoring.base import ColumnSample, DriftResult, DriftTest, drift_test_names, get_test, register_test

__all__ = [
    "ColumnProfile",
    "ColumnSample",
    "DriftReport",
    "DriftResult",
    "DriftTest",
    "Profile",
    "create_monitor",
    "default_test",
    "delete_monitor",
    "drift",
    "drift_test_names",
    "get_monitor",
    "get_test",
    "infer_kind",
    "list_monitors",
    "log_labels",
    "profile",
    "register_test",
    "run_due",
    "run_monitor",
    "windows",
]
