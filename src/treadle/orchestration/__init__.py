"""Pipeline state: registered specs, pipeline runs and step runs, the step cache, schedules and
their fires. The runtime that executes pipelines is :mod:`treadle.pipelines` (above the client)."""

from treadle.orchestration._records import (
    DONE_STEP,
    TERMINAL_RUN,
    InputBinding,
    OutputRef,
    ParamSpec,
    Pipeline,
    PipelineRun,
    PipelineRunDetail,
    PipelineSpec,
    RunStatus,
    Schedule,
    ScheduleCreated,
    ScheduleKind,
    StepRun,
    StepSpec,
    StepStatus,
    TriggerKind,
)
from treadle.orchestration._runs import insert_run
from treadle.orchestration._schedules import ScheduleService
from treadle.orchestration._service import PipelineService

__all__ = [
    "DONE_STEP",
    "TERMINAL_RUN",
    "InputBinding",
    "OutputRef",
    "ParamSpec",
    "Pipeline",
    "PipelineRun",
    "PipelineRunDetail",
    "PipelineService",
    "PipelineSpec",
    "RunStatus",
    "Schedule",
    "ScheduleCreated",
    "ScheduleKind",
    "ScheduleService",
    "StepRun",
    "StepSpec",
    "StepStatus",
    "TriggerKind",
    "insert_run",
]
