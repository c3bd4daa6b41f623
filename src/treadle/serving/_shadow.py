"""Shadow traffic: mirror a request to another model after the primary answered, compare, log.

The caller never waits for the shadow model and never sees its answer: the mirror runs as a
background task scheduled once the primary result exists, a bounded number at a time (past
``max_pending`` a mirror is skipped and counted in ``dropped`` instead of piling up behind a slow
shadow model). Each mirrored call is compared with the primary answer (exact for strings and
integers, ``allclose`` for floats), counted per variant for the rollout statistics and written to
the request log with ``route="shadow"``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

import numpy as np

from treadle.errors import TreadleError
from treadle.serving._deploy_stats import TrafficCounter
from treadle.serving._types import Endpoint, InferRequest, InferResult, LogRecord, RequestSink, Tensors

if TYPE_CHECKING:
    from treadle.serving._metrics import ServingMetrics

log = logging.getLogger(__name__)


def outputs_agree(primary: Tensors, shadow: Tensors, rtol: float = 1e-5, atol: float = 1e-8) -> bool:
    """Whether the shadow gave the same answer: same output names and shapes, equal values
    (floating point within ``rtol``/``atol``, NaN equal to NaN)."""
    if set(primary) != set(shadow):
        return False
    for name, a in primary.items():
        x, y = np.asarray(a), np.asarray(shadow[name])
        if x.shape != y.shape:
            return False
        numeric = x.dtype.kind in "fc" and y.dtype.kind in "fciub"
        numeric = numeric or (y.dtype.kind in "fc" and x.dtype.kind in "iub")
        try:
            same = (
                bool(np.allclose(x, y, rtol=rtol, atol=atol, equal_nan=True)) if numeric else bool(np.array_equal(x, y))
            )
        except TypeError:  # mixed object arrays that do not compare
            same = False
        if not same:
            return False
    return True


class ShadowMirror:
    """Runs mirrored requests in the background for one deployment."""

    def __init__(
        self,
        deployment: str,
        counter: TrafficCounter,
        *,
        sink: RequestSink | None = None,
        metrics: ServingMetrics | None = None,
        max_pending: int = 64,
    ) -> None:
        self.deployment = deployment
        self._counter = counter
        self._sink = sink
        self._metrics = metrics
        self._max_pending = max_pending
        self._tasks: set[asyncio.Task[None]] = set()
        self.dropped = 0

    def submit(
        self,
        endpoint: Endpoint,
        request: InferRequest,
        primary: InferResult,
        *,
        revision: int,
        variant: str,
        decision_id: str,
        record: bool = True,
    ) -> bool:
        """Schedule one mirror (``record``: also write it to the request sink); False when too many are
        already running (the mirror is skipped)."""
        if len(self._tasks) >= self._max_pending:
            self.dropped += 1
            return False
        task = asyncio.get_running_loop().create_task(
            self._run(endpoint, request, primary, revision, variant, decision_id, record)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return True

    async def _run(
        self,
        endpoint: Endpoint,
        request: InferRequest,
        primary: InferResult,
        revision: int,
        variant: str,
        decision_id: str,
        write: bool,
    ) -> None:
        await asyncio.sleep(0)  # the primary reply goes out first
        time_ms = time.time_ns() // 1_000_000
        start = time.perf_counter()
        outputs: Tensors | None = None
        error: str | None = None
        status = 200
        version = endpoint.versions[0] if endpoint.versions else ""
        try:
            mirrored = InferRequest(
                inputs=request.inputs,
                id=request.id,
                outputs=request.outputs,
                parameters=dict(request.parameters),
                unit=request.unit,
                protocol=request.protocol,
            )
            result = await endpoint.infer(mirrored)
            outputs, version = result.outputs, result.model_version
        except TreadleError as exc:
            status, error = exc.status, exc.message
        except Exception as exc:  # a shadow model must never take the server down
            status, error = 500, f"{type(exc).__name__}: {exc}"
        latency_ms = (time.perf_counter() - start) * 1000
        agreed = outputs is not None and outputs_agree(primary.outputs, outputs)
        self._counter.shadow(revision, variant, agreed)
        if self._metrics is not None:
            self._metrics.shadow(self.deployment, agreed)
        if self._sink is not None and write:
            try:
                self._sink.log(
                    LogRecord(
                        id=request.id or decision_id,
                        time_ms=time_ms,
                        endpoint=self.deployment,
                        model_version=version,
                        inputs=request.inputs,
                        outputs=outputs,
                        latency_ms=latency_ms,
                        status=status,
                        route="shadow",
                        variant=variant,
                        decision_id=decision_id,
                        error=error,
                    )
                )
            except Exception:
                log.exception("request sink refused a shadow record of %s", self.deployment)

    async def drain(self, timeout_s: float = 10.0) -> None:
        """Wait for running mirrors (at shutdown or before their model is stopped), then cancel stragglers."""
        tasks = list(self._tasks)
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=timeout_s)
        for task in pending:
            task.cancel()
