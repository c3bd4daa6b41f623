"""Serving a stored deployment: route each request to a variant, mirror to the shadow, report back.

A :class:`DeploymentEndpoint` answers for the deployment's name. It holds one *live* revision (a
:class:`~treadle.rollout.Router` plus one :class:`~treadle.serving._model.ModelEndpoint` per variant
and the shadow model) which a request reads exactly once, so a spec change swaps everything at once
and no request ever sees half of two revisions. Background loops keep it in step with the store:

- every ``flush_interval_s`` the per-variant traffic deltas go to ``rollout.record_traffic`` (kept
  and retried when the store is unreachable: counts are delayed, never lost);
- every ``arms_interval_s`` a bandit refreshes its shared arm state (``rollout.bandit_state``);
- every ``control_interval_s`` the guardrails and auto-promotion are evaluated (``rollout.evaluate``)
  when the spec asks for them; a rollback or promotion is a new revision, applied at once;
- every ``watch_interval_s`` the current revision is read; a new one is loaded (variants whose model
  did not change keep their loaded model), swapped in, and the old one drained and stopped.

Rewards arrive through ``POST /feedback`` (:meth:`DeploymentEndpoint.feedback`) and are stored by
decision id, which names the deployment, revision and variant.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from treadle.errors import InvalidArgument, NotFound, TreadleError, Unavailable
from treadle.rollout import Deployment, DeploymentSpec, Router
from treadle.serving._deploy_pool import ModelPool
from treadle.serving._deploy_stats import TrafficCounter
from treadle.serving._deploy_units import declared_inputs, request_unit, without_unit
from treadle.serving._model import ModelEndpoint
from treadle.serving._shadow import ShadowMirror
from treadle.serving._types import Endpoint, InferRequest, InferResult, RequestSink

if TYPE_CHECKING:
    from treadle.client import Client
    from treadle.serving._metrics import ServingMetrics

log = logging.getLogger(__name__)


@dataclass
class _Live:
    """One revision as served: what a request reads once, start to finish."""

    deployment: Deployment
    router: Router
    variants: dict[str, ModelEndpoint]
    shadow: ModelEndpoint | None
    declared: dict[str, set[str]]  # variant -> the input names its model declares
    inflight: int = 0
    idle: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def spec(self) -> DeploymentSpec:
        return self.deployment.spec

    def models(self) -> list[ModelEndpoint]:
        return [*self.variants.values(), *([self.shadow] if self.shadow is not None else [])]


class DeploymentEndpoint(Endpoint):
    """Serves the deployment ``name`` stored in ``client``'s rollout service."""

    def __init__(
        self,
        name: str,
        client: Client,
        *,
        sink: RequestSink | None = None,
        metrics: ServingMetrics | None = None,
        backend: str = "local",
        flush_interval_s: float = 1.0,
        arms_interval_s: float = 1.0,
        control_interval_s: float = 2.0,
        watch_interval_s: float = 2.0,
        drain_timeout_s: float = 30.0,
        retry_failed_s: float = 30.0,
    ) -> None:
        self.name = name
        self.client = client
        self.backend = backend
        self._metrics = metrics
        self._sink = sink
        self._intervals = (flush_interval_s, arms_interval_s, control_interval_s, watch_interval_s)
        self._drain_timeout_s = drain_timeout_s
        self._retry_failed_s = retry_failed_s
        self._failed: dict[int, float] = {}  # revision -> when loading it failed (monotonic)
        self.counter = TrafficCounter()
        self.mirror = ShadowMirror(name, self.counter, sink=sink, metrics=metrics)
        self._live: _Live | None = None
        self._pool = ModelPool(name, client, backend=backend, metrics=metrics)
        self._draining: list[_Live] = []
        self._swap_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self.flush_failures = 0
        self.dropped_reports = 0

    # ------------------------------------------------------------------ Endpoint

    @property
    def deployment(self) -> Deployment | None:
        """The revision being served (None before ``start``)."""
        return self._live.deployment if self._live is not None else None

    @property
    def versions(self) -> list[str]:
        live = self._live
        if live is None:
            return []
        return list(dict.fromkeys(ep.version for ep in live.variants.values()))

    @property
    def ready(self) -> bool:
        live = self._live
        return live is not None and all(ep.ready for ep in live.models())

    def metadata(self) -> dict[str, Any]:
        """The control variant's model metadata, under the deployment's name."""
        live = self._live
        if live is None:
            return {"name": self.name, "versions": [], "platform": "treadle-deployment", "inputs": [], "outputs": []}
        control = live.variants[live.spec.control.name].metadata()
        return {**control, "name": self.name, "versions": self.versions}

    async def start(self) -> None:
        deployment = await asyncio.to_thread(self.client.rollout.get_deployment, self.name)
        await self._apply(deployment)
        flush, arms, control, watch = self._intervals
        self._tasks = [
            asyncio.create_task(self._every(flush, self.flush), name=f"{self.name}:flush"),
            asyncio.create_task(self._every(arms, self.refresh_arms), name=f"{self.name}:arms"),
            asyncio.create_task(self._every(control, self.control), name=f"{self.name}:control"),
            asyncio.create_task(self._every(watch, self.watch), name=f"{self.name}:watch"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.mirror.drain()
        try:
            await self.flush()
        except Exception:
            log.warning("deployment %s: the last traffic counts could not be stored", self.name, exc_info=True)
        self._live = None
        self._draining.clear()
        await self._pool.close()

    async def infer(self, request: InferRequest) -> InferResult:
        live = self._live
        if live is None:
            raise Unavailable(f"deployment {self.name!r} is not started yet")
        live.inflight += 1
        try:
            return await self._infer(live, request)
        finally:
            live.inflight -= 1
            if live.inflight == 0:
                live.idle.set()

    async def _infer(self, live: _Live, request: InferRequest) -> InferResult:
        unit = request_unit(self.name, live.spec, request)
        decision = live.router.decide(unit)
        variant = decision.variant.name
        endpoint = live.variants[variant]
        routed = without_unit(live.spec, live.declared[variant], request)
        revision = live.deployment.revision
        start = time.perf_counter()
        try:
            result = await endpoint.infer(routed)
        except InvalidArgument:
            raise  # the caller's mistake, not the variant's
        except Exception as exc:
            self.counter.request(revision, variant, (time.perf_counter() - start) * 1000, error=True)
            if isinstance(exc, TreadleError):
                exc.message = f"{exc.message} (deployment {self.name!r}, variant {variant!r})"
                exc.args = (exc.message,)
            raise
        self.counter.request(revision, variant, (time.perf_counter() - start) * 1000, error=False)
        if live.shadow is not None and live.router.mirror():
            self.mirror.submit(
                live.shadow,
                routed,
                result,
                revision=revision,
                variant=variant,
                decision_id=decision.decision_id,
                record=live.spec.request_log,
            )
        return InferResult(
            outputs=result.outputs,
            model_name=self.name,
            model_version=result.model_version,
            parameters={**result.parameters, "decision_id": decision.decision_id, "variant": variant},
        )

    # ------------------------------------------------------------------ feedback

    async def feedback(self, decision_id: str, reward: float) -> dict[str, Any]:
        """Store a (possibly delayed) reward for one decision; duplicates answer ``accepted: false``."""
        got = await asyncio.to_thread(self.client.rollout.record_feedback, decision_id, float(reward))
        return got.model_dump(mode="json")

    # ------------------------------------------------------------------ background work

    async def _every(self, interval_s: float, step: Callable[[], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await step()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("deployment %s: %s failed; retrying", self.name, step.__name__, exc_info=True)

    async def flush(self) -> None:
        """Send the traffic counted since the last flush; on failure keep it for the next one, unless
        the store refused it for good (the deployment or revision was deleted): then it is dropped and
        counted in ``dropped_reports``, so a deleted deployment does not fail every flush forever."""
        failed: Exception | None = None
        for revision, traffic in self.counter.take().items():
            try:
                await asyncio.to_thread(self.client.rollout.record_traffic, self.name, revision, traffic)
            except (NotFound, InvalidArgument) as exc:
                self.dropped_reports += 1
                log.warning("deployment %s: revision %d traffic dropped: %s", self.name, revision, exc)
            except Exception as exc:
                self.counter.restore(revision, traffic)
                self.flush_failures += 1
                failed = exc
        if failed is not None:
            raise failed

    async def refresh_arms(self) -> None:
        """Replace the bandit's arm state with the store's. The router forgets its local pulls then, so
        they are flushed first: otherwise requests routed since the last flush would count nowhere."""
        live = self._live
        if live is None or live.spec.bandit is None:
            return
        with contextlib.suppress(Exception):
            await self.flush()
        state = await asyncio.to_thread(self.client.rollout.bandit_state, self.name)
        if self._live is live:
            live.router.update_arms(state)

    async def control(self) -> None:
        """Guardrails and auto-promotion: evaluate the live revision (the service acts only when it
        is still the current one) and apply what it decided right away."""
        live = self._live
        if live is None or live.deployment.status != "active":
            return
        spec = live.spec
        if spec.guardrails is None and (spec.auto_promote is None or not spec.auto_promote.enabled):
            return
        with contextlib.suppress(Exception):
            await self.flush()  # decide on the freshest counts
        evaluation = await asyncio.to_thread(self.client.rollout.evaluate, self.name, live.deployment.revision)
        if evaluation.action != "none":
            log.warning("deployment %s: %s (%s)", self.name, evaluation.action, evaluation.reason)
        if evaluation.deployment.revision != live.deployment.revision:
            await self._apply(evaluation.deployment)

    async def watch(self) -> None:
        """Load a revision applied elsewhere (CLI, SDK, another server's controller)."""
        current = await asyncio.to_thread(self.client.rollout.get_deployment, self.name)
        live = self._live
        if live is None or current.revision != live.deployment.revision:
            failed_at = self._failed.get(current.revision)
            if failed_at is not None and time.monotonic() - failed_at < self._retry_failed_s:
                return  # its models did not load a moment ago: keep serving the live revision
            try:
                await self._apply(current)
            except Exception:
                self._failed[current.revision] = time.monotonic()
                raise
            return
        async with self._swap_lock:  # an alias moved by hand: hot-reload its models in place
            if self._live is live:
                for uri in await self._pool.refresh_aliases(live.models()):
                    log.info("deployment %s: reloaded %s (its alias moved)", self.name, uri)

    # ------------------------------------------------------------------ revisions

    async def _apply(self, deployment: Deployment) -> None:
        """Load what ``deployment`` needs, swap it in atomically, then drain and retire the old one."""
        async with self._swap_lock:
            old = self._live
            if old is not None and old.deployment.revision >= deployment.revision:
                return
            spec = deployment.spec
            variants, shadow = await self._pool.acquire(spec)
            router = Router(spec, deployment.revision)
            if spec.bandit is not None:
                try:
                    router.update_arms(await asyncio.to_thread(self.client.rollout.bandit_state, self.name))
                except Exception:
                    log.warning("deployment %s: no bandit state yet", self.name, exc_info=True)
            self._live = _Live(
                deployment=deployment,
                router=router,
                variants=variants,
                shadow=shadow,
                declared={v: declared_inputs(ep) for v, ep in variants.items()},
            )
            if old is not None:
                self._draining.append(old)
                log.info("deployment %s: revision %d -> %d", self.name, old.deployment.revision, deployment.revision)
        if old is not None:
            await self._retire(old)

    async def _retire(self, old: _Live) -> None:
        """Wait for the old revision's requests, then stop the models no live revision uses."""
        old.idle.clear()
        if old.inflight:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(old.idle.wait(), self._drain_timeout_s)
        async with self._swap_lock:
            self._draining = [d for d in self._draining if d is not old]
            in_use = [ep for live in [self._live, *self._draining] if live is not None for ep in live.models()]
            retired = self._pool.release(in_use)
        if any(ep is old.shadow for ep in retired):
            await self.mirror.drain()
        await asyncio.gather(*(ep.stop() for ep in retired), return_exceptions=True)


def deployment_endpoint(
    name: str,
    client: Client,
    *,
    sink: RequestSink | None = None,
    metrics: ServingMetrics | None = None,
    backend: str = "local",
) -> DeploymentEndpoint:
    """The endpoint ``treadle serve deployment NAME`` serves (started by the server's lifespan)."""
    return DeploymentEndpoint(name, client, sink=sink, metrics=metrics, backend=backend)
