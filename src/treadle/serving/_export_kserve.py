"""``treadle export kserve``: a stored deployment as a KServe ``InferenceService`` (v1beta1).

KServe's canary is one predictor spec plus ``canaryTrafficPercent``: applying a new spec sends that
share of traffic to it and keeps the rest on the previous ready revision. So a treadle canary
(``routes: [control, canary]``) exports the *canary* model as the predictor with
``canaryTrafficPercent`` = its share of the weights, and names the control model in annotations
(``treadle.io/control-model``): the control must be what the cluster is serving already. A single
route exports a plain predictor. A/B tests and bandits have no InferenceService form and are refused;
the shadow model is named in an annotation only (KServe mirrors traffic with an InferenceGraph).

The predictor speaks the Open Inference Protocol (``protocolVersion: v2``). ``modelFormat`` comes from
the model's flavor and ``storageUri`` from ``storage_prefix``/<model>/<version> (where you copy the
model's files, e.g. with ``treadle models download``), unless the version was registered from a URL
KServe can read itself (``s3://``, ``gs://``, ``https://``, ``pvc://``).
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from treadle.errors import InvalidArgument
from treadle.models import read_manifest

API_VERSION = "serving.kserve.io/v1beta1"
KIND = "InferenceService"
_FORMATS = {
    "sklearn": "sklearn",
    "skops": "sklearn",
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
    "onnx": "onnx",
    "pytorch": "pytorch",
}
_KSERVE_SCHEMES = ("s3://", "gs://", "https://", "http://", "pvc://", "hdfs://", "webhdfs://", "oci://")
_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def kserve_name(name: str) -> str:
    """A DNS-1035 label (what Kubernetes accepts as an InferenceService name) made from ``name``."""
    clean = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    clean = clean if clean[:1].isalpha() else f"d-{clean}"
    clean = clean[:63].rstrip("-")
    if not _DNS_1035.match(clean):
        raise InvalidArgument(f"cannot make a Kubernetes name from {name!r}")
    return clean


def export_kserve(
    deployment: str,
    *,
    client: Any = None,
    revision: int | None = None,
    namespace: str | None = None,
    storage_prefix: str = "pvc://treadle-models",
) -> dict[str, Any]:
    """The InferenceService manifest (a dict) for the stored deployment ``deployment``."""
    if client is None:
        from treadle.client import get_client

        client = get_client()
    record = client.rollout.get_deployment(deployment, revision)
    spec = record.spec
    if spec.routes is None:
        raise InvalidArgument(
            f"deployment {deployment!r} is a {spec.mode} test: a KServe InferenceService can only express "
            "routes (one model, or a control and a canary); export the variants one by one"
        )
    routes = [r for r in spec.routes if r.weight > 0] or list(spec.routes[:1])
    if len(routes) > 2:
        raise InvalidArgument(f"deployment {deployment!r} splits traffic {len(routes)} ways; KServe's canary takes two")
    serving = routes[-1]
    model = _model(client, serving.model, storage_prefix)
    annotations = {
        "treadle.io/deployment": spec.name,
        "treadle.io/revision": str(record.revision),
        "treadle.io/model": serving.model,
    }
    predictor: dict[str, Any] = {"model": model}
    if len(routes) == 2:
        total = sum(r.weight for r in routes)
        predictor["canaryTrafficPercent"] = round(100 * serving.weight / total)
        annotations["treadle.io/control-model"] = routes[0].model
    if spec.shadow is not None:
        annotations["treadle.io/shadow-model"] = spec.shadow.model
        annotations["treadle.io/shadow-percent"] = str(spec.shadow.percent)
    replicas = spec.replicas
    predictor["minReplicas"] = replicas.min_replicas
    predictor["maxReplicas"] = replicas.upper if replicas.upper > 0 else 1
    predictor["scaleMetric"] = "concurrency"
    predictor["scaleTarget"] = max(1, round(replicas.target_inflight))
    if spec.batching is not None:
        predictor["batcher"] = {
            "maxBatchSize": spec.batching.max_batch_size,
            "maxLatency": max(1, round(spec.batching.max_latency_ms)),
        }
    metadata: dict[str, Any] = {"name": kserve_name(spec.name), "annotations": annotations}
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": metadata, "spec": {"predictor": predictor}}


def _model(client: Any, uri: str, storage_prefix: str) -> dict[str, Any]:
    from treadle.client._models import fetch, resolve

    resolved = resolve(client, uri) if uri.startswith("models:/") else None
    manifest = read_manifest(fetch(client, uri, resolved))
    fmt = _FORMATS.get(manifest.flavor)
    if fmt is None:
        raise InvalidArgument(
            f"{uri} is a {manifest.flavor!r} model, which no KServe runtime serves "
            f"(supported flavors: {', '.join(sorted(_FORMATS))})"
        )
    model_format: dict[str, Any] = {"name": fmt}
    if manifest.framework_version:
        model_format["version"] = manifest.framework_version.split(".", 1)[0]
    if resolved is not None:
        source = resolved.version.source or ""
        storage = source if source.startswith(_KSERVE_SCHEMES) else None
        storage = storage or f"{storage_prefix.rstrip('/')}/{resolved.version.name}/{resolved.version.version}"
    elif uri.startswith(_KSERVE_SCHEMES):
        storage = uri
    else:
        storage = f"{storage_prefix.rstrip('/')}/{uri.rstrip('/').rsplit('/', 1)[-1]}"
    return {"modelFormat": model_format, "protocolVersion": "v2", "storageUri": storage}


def kserve_yaml(manifest: dict[str, Any]) -> str:
    return yaml.safe_dump(manifest, sort_keys=False)
