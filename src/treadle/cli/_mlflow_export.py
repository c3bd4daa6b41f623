"""The exporter ``treadle import mlflow`` runs inside an mlflow venv (treadle itself never imports mlflow).

``EXPORTER`` is a standalone script: ``python exporter.py <tracking URI> <out dir> [skip.json]`` reads the MLflow
store with the mlflow client and writes ``<out>/export.jsonl`` (one JSON record a line: experiment,
run, model, version) plus the artifact files under ``<out>/files/``. It prints one progress line per
record to stdout. ``skip.json`` (``{"runs": [mlflow run ids], "versions": [[name, version]]}``) names
what a previous import already holds in full: their files are not downloaded again (``files`` is null).
"""

from __future__ import annotations

EXPORTER = r"""
import json, os, sys

import mlflow
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

uri, out = sys.argv[1], sys.argv[2]
mlflow.set_tracking_uri(uri)
mlflow.set_registry_uri(uri)
client = MlflowClient(tracking_uri=uri, registry_uri=uri)
sink = open(os.path.join(out, "export.jsonl"), "w")
skip = json.load(open(sys.argv[3])) if len(sys.argv) > 3 else {}
skip_runs = set(skip.get("runs", []))
skip_versions = {tuple(v) for v in skip.get("versions", [])}


def emit(record):
    sink.write(json.dumps(record) + "\n")
    sink.flush()
    print(json.dumps({"type": record["type"], "id": record.get("id") or record.get("name")}), flush=True)


def pages(fetch):
    token = None
    while True:
        page = fetch(token)
        yield from page
        token = getattr(page, "token", None)
        if not token:
            return


def download(target, **where):
    os.makedirs(target, exist_ok=True)
    mlflow.artifacts.download_artifacts(dst_path=target, **where)


for exp in pages(lambda t: client.search_experiments(view_type=ViewType.ALL, max_results=1000, page_token=t)):
    emit({"type": "experiment", "id": exp.experiment_id, "name": exp.name, "tags": dict(exp.tags),
          "lifecycle": exp.lifecycle_stage, "created_at": exp.creation_time})
    runs = pages(lambda t: client.search_runs([exp.experiment_id], run_view_type=ViewType.ALL,
                                              max_results=1000, page_token=t))
    for run in runs:
        info, data = run.info, run.data
        metrics = {}
        for key in data.metrics:
            history = client.get_metric_history(info.run_id, key)
            metrics[key] = [[m.step, m.timestamp, m.value] for m in history]
        files = None
        if info.run_id not in skip_runs and client.list_artifacts(info.run_id):
            files = os.path.join("files", "runs", info.run_id)
            download(os.path.join(out, files), run_id=info.run_id, artifact_path="")
        emit({"type": "run", "id": info.run_id, "experiment_id": exp.experiment_id, "name": info.run_name,
              "status": info.status, "start_time": info.start_time, "end_time": info.end_time,
              "lifecycle": info.lifecycle_stage, "user_id": info.user_id, "params": dict(data.params),
              "tags": dict(data.tags), "metrics": metrics, "files": files})

for n_models, model in enumerate(pages(lambda t: client.search_registered_models(max_results=1000, page_token=t))):
    versions = sorted(client.search_model_versions(f"name = '{model.name}'"), key=lambda v: int(v.version))
    emit({"type": "model", "name": model.name, "description": model.description or None,
          "tags": dict(model.tags), "aliases": {a: str(v) for a, v in (model.aliases or {}).items()}})
    for v in versions:
        files = None
        if (model.name, str(v.version)) not in skip_versions:
            files = os.path.join("files", "models", str(n_models), str(v.version))
            download(os.path.join(out, files), artifact_uri=f"models:/{model.name}/{v.version}")
        emit({"type": "version", "name": model.name, "version": str(v.version), "source": v.source,
              "run_id": v.run_id or None, "model_id": getattr(v, "model_id", None) or None,
              "description": v.description or None, "tags": dict(v.tags), "user_id": v.user_id or None,
              "files": files})
sink.close()
"""
