"""Model monitoring's state: monitors, evaluated windows, alert states and labels (see
:mod:`treadle.monitoring` for the drift engine and the runner)."""

from treadle.monitors._records import (
    AlertRule,
    AlertState,
    ColumnDrift,
    ColumnKind,
    DriftConfig,
    LabelsLogged,
    Monitor,
    MonitorSpec,
    QualityReport,
    ReferenceInfo,
    WindowReport,
    WindowSpec,
)
from treadle.monitors._service import MonitorService

__all__ = [
    "AlertRule",
    "AlertState",
    "ColumnDrift",
    "ColumnKind",
    "DriftConfig",
    "LabelsLogged",
    "Monitor",
    "MonitorService",
    "MonitorSpec",
    "QualityReport",
    "ReferenceInfo",
    "WindowReport",
    "WindowSpec",
]
