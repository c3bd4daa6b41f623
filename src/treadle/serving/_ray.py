"""``--backend ray``: a model's replicas as a Ray Serve deployment, with Ray's own autoscaling.

Our server stays the front door (same protocols, metrics, request log, routing); Ray Serve only runs
the replicas. Serve is started with its HTTP proxy disabled and each model becomes one Serve
application whose ingress is :class:`ModelReplica` (a :class:`ModelRunner` per replica); requests
go through a ``DeploymentHandle`` and are awaited on the server's event loop. The
:class:`~treadle.rollout.ReplicaSpec` maps onto Serve's ``autoscaling_config``: ``min_replicas``,
``max_replicas`` and ``target_inflight`` as ``target_ongoing_requests`` (a fixed ``num_replicas``
when min equals max). Adaptive batching, when asked for, wraps this executor like any other.

Ray joins the cluster at ``TREADLE_RAY_ADDRESS`` or starts a local one. Replicas read the model from
``model_dir``, so on a multi-node cluster that folder must be on a filesystem every node sees.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import anyio.to_thread

from treadle.errors import ModelError, Unavailable
from treadle.rollout import ModelSpec
from treadle.serving._types import Executor, Tensors
from treadle.serving._worker import error_parts, rebuild_error


class ModelReplica:
    """One Serve replica: the model loaded once, warmed, then ``predict`` per request.

    Errors come back as values (``("error", kind, message)``) rather than Ray-wrapped exceptions,
    so the server answers the same clean 400/500 message it does on every other backend.
    """

    def __init__(self, model_dir: str) -> None:
        from treadle.serving._runner import ModelRunner

        self.runner = ModelRunner(model_dir)
        self.runner.warm()

    def predict(self, inputs: Tensors, outputs: list[str] | None) -> Any:
        try:
            return ("ok", self.runner.run(inputs, outputs))
        except Exception as exc:
            return ("error", *error_parts(exc))

    def metadata(self) -> dict[str, Any]:
        return self.runner.metadata()


def deployment_options(spec: ModelSpec, num_cpus: float) -> dict[str, Any]:
    """``serve.deployment`` options for the spec's replicas (see the module docstring)."""
    replicas = spec.replicas
    low, high = replicas.min_replicas, replicas.upper
    options: dict[str, Any] = {
        "ray_actor_options": {"num_cpus": num_cpus},
        "max_ongoing_requests": max(1, int(replicas.target_inflight * 4)),
    }
    if high > low:
        options["autoscaling_config"] = {
            "min_replicas": low,
            "initial_replicas": max(1, low),
            "max_replicas": high,
            "target_ongoing_requests": replicas.target_inflight,
            "downscale_delay_s": replicas.scale_down_delay_s,
            "upscale_delay_s": 1.0,
        }
    else:
        options["num_replicas"] = max(1, low)
    return options


def _ray() -> Any:
    from treadle.data._ray import init_ray

    init_ray("ray.serve", "--backend ray")
    from ray import serve

    serve.start(proxy_location="Disabled")
    return serve


class RayExecutor(Executor):
    """The model in ``model_dir`` served by Ray Serve replicas (one Serve application per executor)."""

    def __init__(self, model_dir: str | Path, spec: ModelSpec, *, num_cpus: float = 1.0) -> None:
        self.model_dir = Path(model_dir)
        self.spec = spec
        self.num_cpus = num_cpus
        self.app_name = f"treadle-{spec.name}-{uuid.uuid4().hex[:8]}"
        self._handle: Any = None
        self._inflight = 0
        self._stopping = False
        self._replicas = 0
        self._replicas_at = 0.0
        self._meta: dict[str, Any] | None = None

    async def start(self) -> None:
        """Deploy the Serve application and wait until its replicas are up (off the event loop)."""
        if self._handle is not None:
            return
        self._handle = await anyio.to_thread.run_sync(self._deploy)
        self._meta = await self._handle.metadata.remote()

    def _deploy(self) -> Any:
        serve = _ray()
        options = deployment_options(self.spec, self.num_cpus)
        deployment = serve.deployment(ModelReplica, name="model", **options)
        return serve.run(deployment.bind(str(self.model_dir)), name=self.app_name, route_prefix=None)

    async def run(self, inputs: Tensors, outputs: list[str] | None = None) -> Tensors:
        handle = self._handle
        if handle is None or self._stopping:
            raise Unavailable(f"model {self.spec.name!r} is not running on Ray Serve (start() it first)")
        self._inflight += 1
        try:
            answer = await handle.predict.remote(inputs, outputs)
        except Exception as exc:  # a replica died, the cluster went away, ...
            raise ModelError(f"Ray Serve could not run {self.spec.name!r}: {type(exc).__name__}: {exc}") from exc
        finally:
            self._inflight -= 1
        if answer[0] == "ok":
            result: Tensors = answer[1]
            return result
        raise rebuild_error(answer[1], answer[2])

    async def stop(self) -> None:
        """Wait for in-flight calls, then delete the Serve application (its replicas go with it)."""
        self._stopping = True
        while self._inflight:
            await anyio.sleep(0.01)
        if self._handle is not None:
            self._handle = None
            await anyio.to_thread.run_sync(self._delete)

    def _delete(self) -> None:
        from ray import serve

        serve.delete(self.app_name)

    def metadata(self) -> dict[str, Any]:
        if self._meta is None:
            raise Unavailable(f"model {self.spec.name!r} is not loaded yet")
        return self._meta

    @property
    def inflight(self) -> int:
        return self._inflight

    @property
    def replicas(self) -> int:
        """Running replicas, as Serve's controller reports them (asked at most once a second)."""
        if self._handle is None:
            return 0
        now = time.monotonic()
        if now - self._replicas_at > 1.0:
            self._replicas_at = now
            self._replicas = running_replicas(self.app_name)
        return self._replicas


def running_replicas(app_name: str) -> int:
    from ray import serve

    try:
        app = serve.status().applications.get(app_name)
    except Exception:
        return 0
    if app is None:
        return 0
    return sum(
        int(count)
        for d in app.deployments.values()
        for state, count in d.replica_states.items()
        if str(getattr(state, "value", state)) == "RUNNING"
    )
