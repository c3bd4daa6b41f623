"""Seed data the UI tests share: three runs with params, metrics, tags and artifacts."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from pathlib import Path

from treadle import Client, Metric
from treadle.tracking import RunStatus

STEPS = 50


@dataclass
class Seeded:
    """What :func:`seed` logged: ids by name, and the store's location."""

    uri: str
    artifacts: str
    experiment_id: str
    empty_experiment_id: str
    runs: dict[str, str] = field(default_factory=dict)


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
    return out
