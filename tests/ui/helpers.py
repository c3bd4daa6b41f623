"""Seed data the UI tests share: three runs with params, metrics, tags and artifacts."""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from treadle import Client, Metric
from treadle.tracking import InputRef, RunStatus

STEPS = 50
MANIFEST = """\
flavor: sklearn
framework: scikit-learn
framework_version: 1.5.0
python_version: 3.11.7
signature:
  inputs:
    kind: columns
    specs:
    - {name: tenure, dtype: float64, shape: null}
    - {name: plan, dtype: string, shape: null}
  outputs:
    kind: tensors
    specs:
    - {name: null, dtype: int64, shape: [-1]}
requirements: [scikit-learn==1.5.0, pandas==2.2.2]
input_example: input_example.json
digest: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
"""


@dataclass
class Seeded:
    """What :func:`seed` logged: ids by name, and the store's location."""

    uri: str
    artifacts: str
    experiment_id: str
    empty_experiment_id: str
    runs: dict[str, str] = field(default_factory=dict)
    model_run: str = ""  # the run (beta) whose ``model/`` folder every seeded version comes from


def shot(page: Any, name: str) -> None:
    """Save a full-page screenshot under ``$TREADLE_UI_SHOTS`` when it is set."""
    folder = os.environ.get("TREADLE_UI_SHOTS")
    if folder:
        os.makedirs(folder, exist_ok=True)
        page.screenshot(path=os.path.join(folder, f"{name}.png"), full_page=True)


def tiny_png() -> bytes:
    """A valid 2x2 red PNG, made by hand (no imaging library needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2))
    header = (2).to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def seed(root: Path) -> Seeded:
    """Three runs with params, metrics, tags and artifacts; final acc: beta 0.9 > gamma 0.8 > alpha 0.7."""
    uri, artifacts = f"sqlite:///{root / 't.db'}", str(root / "art")
    client = Client(uri=uri, artifacts=artifacts)
    exp = client.create_experiment("vision", description="image models")
    empty = client.create_experiment("empty")
    out = Seeded(uri=uri, artifacts=artifacts, experiment_id=exp.id, empty_experiment_id=empty.id)
    specs: list[tuple[str, float, int, float, RunStatus]] = [
        ("alpha", 0.1, 32, 0.7, "FINISHED"),
        ("beta", 0.01, 32, 0.9, "FINISHED"),
        ("gamma", 0.001, 64, 0.8, "FAILED"),
    ]
    for i, (name, lr, batch, final, status) in enumerate(specs):
        run = client.tracking.create_run(
            exp.id, name=name, tags={"team": "cv", "treadle.user": "ci-bot"}, start_time=1_700_000_000_000 + i
        )
        points = [
            Metric(key=key, value=value, step=s, timestamp=1_700_000_000_000 + s * 1000)
            for s in range(STEPS)
            for key, value in (("acc", final * (s + 1) / STEPS), ("loss", 1.0 / (s + 1)))
        ]
        client.log_batch(run.id, metrics=points, params={"lr": lr, "batch": batch, "optimizer": "adam"})
        client.tracking.end_run(run.id, status)
        out.runs[name] = run.id
    alpha = out.runs["alpha"]
    client.log_text(alpha, "hello from alpha\n<script>window.pwned = 1</script>\n", "notes.txt")
    client.log_table(alpha, {"label": ["cat", "dog"], "score": [0.25, 0.75]}, "eval/table.json")
    client.log_dict(alpha, {"lr": 0.1, "layers": [64, 32]}, "config.yaml")
    client.log_bytes(alpha, tiny_png(), "plots/red.png")
    out.model_run = seed_models(client, out.runs["beta"])
    return out


def log_model_files(client: Client, run_id: str, path: str = "model") -> str:
    """A minimal model folder (manifest, weights, example) in the run; returns its runs:/ URI."""
    client.log_text(run_id, MANIFEST, f"{path}/treadle-model.yaml")
    client.log_bytes(run_id, b"\x80\x04weights", f"{path}/model.pkl")
    client.log_text(run_id, '{"type": "dataframe", "columns": []}', f"{path}/input_example.json")
    return f"runs:/{run_id}/{path}"


def seed_models(client: Client, run_id: str) -> str:
    """``churn`` (v1-v3: champion moved v1 -> v2, challenger on v3, v2 approved, v3 rejected) and ``fraud``."""
    client.tracking.log_inputs(run_id, [InputRef(uri="s3://data/churn.parquet", name="churn-train")])
    uri = log_model_files(client, run_id)
    registry = client.registry
    registry.create_model("churn", description="who leaves next month", owner="ana", tags={"team": "growth"})
    for _ in range(3):
        registry.create_version("churn", uri, created_by="ana")
    registry.set_alias("churn", "champion", 1, actor="ana", reason="first model")
    registry.approve_version("churn", 2, actor="lead", reason="passed review")
    registry.set_alias("churn", "champion", 2, actor="bo", reason="v2 wins the A/B")
    registry.set_alias("churn", "challenger", 3, actor="bo")
    registry.reject_version("churn", 3, actor="lead", reason="worse on slice A")
    registry.create_version("fraud", uri)
    return run_id
