"""What flows through the inference server: requests, results, endpoints and executors.

An HTTP request (Open Inference Protocol or MLflow ``/invocations``) is decoded into an
:class:`InferRequest` of named tensors whose first axis is the row (batch) axis. The server hands it
to an :class:`Endpoint` (one model, an inference graph or a deployment with a router), which returns
an :class:`InferResult`. A model endpoint runs its predictions on an :class:`Executor`: inline
threads, worker processes, or Ray Serve replicas; wrappers (adaptive batching) wrap an executor.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Tensors = dict[str, np.ndarray]


@dataclass
class InferRequest:
    """One request, decoded. ``inputs`` keep the order the caller sent them in."""

    inputs: Tensors
    id: str | None = None
    outputs: list[str] | None = None  # output names the caller asked for; None: the model's default
    parameters: dict[str, Any] = field(default_factory=dict)
    unit: str | None = None  # the A/B unit (user id, session, ...) when the caller gave one
    protocol: Literal["v2", "invocations"] = "v2"

    @property
    def rows(self) -> int:
        first = next(iter(self.inputs.values()), None)
        return 0 if first is None else (int(first.shape[0]) if first.ndim else 1)


@dataclass
class InferResult:
    outputs: Tensors
    model_name: str
    model_version: str
    parameters: dict[str, Any] = field(default_factory=dict)  # decision_id, variant, ... echoed to the caller


class Executor(ABC):
    """Where one loaded model's predictions run.

    Contract: ``run`` is a coroutine safe to call concurrently from the event loop; it returns the
    output tensors for exactly the rows it was given, raises :class:`~treadle.errors.InvalidArgument`
    for input the model refuses (the message names the input) and :class:`~treadle.errors.ModelError`
    when the model's own code raised. ``stop`` waits for in-flight calls to finish (drain) and then
    releases the replicas. ``replicas`` and ``inflight`` feed the metrics and the autoscaler.
    """

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def run(self, inputs: Tensors, outputs: list[str] | None = None) -> Tensors: ...

    @abstractmethod
    async def stop(self) -> None: ...

    @property
    def replicas(self) -> int:
        return 1

    @property
    def inflight(self) -> int:
        return 0

    @property
    def queue_depth(self) -> int:
        return 0

    def metadata(self) -> dict[str, Any] | None:
        """The loaded model's OIP ``inputs``/``outputs`` (None when this executor cannot tell; the
        endpoint then reads them from the model's manifest)."""
        return None


class Endpoint(ABC):
    """A name the server answers ``/v2/models/{name}/...`` and ``/invocations`` for.

    Contract: ``infer`` is a coroutine, safe to call concurrently; bad input raises InvalidArgument
    (HTTP 400 naming the input), a model that raises gives ModelError (HTTP 500 with the request id).
    ``metadata`` is the OIP model metadata (name, versions, platform, inputs, outputs).
    """

    name: str

    @property
    @abstractmethod
    def versions(self) -> list[str]: ...

    @property
    @abstractmethod
    def ready(self) -> bool: ...

    @abstractmethod
    def metadata(self) -> dict[str, Any]: ...

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def infer(self, request: InferRequest) -> InferResult: ...

    @abstractmethod
    async def stop(self) -> None: ...


@dataclass
class LogRecord:
    """One served request (or one shadow call), as the request log stores it."""

    id: str
    time_ms: int  # when the request arrived, epoch milliseconds
    endpoint: str
    model_version: str
    inputs: Tensors
    outputs: Tensors | None
    latency_ms: float
    status: int  # the HTTP status answered (shadow calls: what it would have been)
    route: Literal["primary", "shadow"] = "primary"
    variant: str | None = None
    decision_id: str | None = None
    error: str | None = None


class RequestSink(ABC):
    """Takes log records without ever blocking the reply: a full queue drops and counts instead."""

    @abstractmethod
    def log(self, record: LogRecord) -> None: ...

    @property
    def dropped(self) -> int:
        return 0
