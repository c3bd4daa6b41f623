"""Demo scenario: a data-preparation run that versions the iris table and a small image collection.

Version 1 is the raw table; version 2 drops a few rows and fixes a unit mistake, and becomes
``prod``. The registry scenario trains on ``iris@prod`` and logs it as its input, so the lineage
graph runs dataset version → training run → model version.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import treadle as td
from treadle.cli._demo_base import DemoContext, Scenario, use_experiment

DATASET = "iris"
IMAGES = "iris-sketches"


def prepare_iris(ctx: DemoContext) -> None:
    from sklearn.datasets import load_iris

    use_experiment(ctx.client, "iris-data", "Preparing and versioning the iris data.", {"demo": "true"})
    frame = load_iris(as_frame=True).frame.reset_index(names="sample_id")
    with td.start_run(name="prepare-iris", tags={"demo": "true"}):
        raw = frame.copy()
        raw.loc[raw.index[::25], "petal length (cm)"] *= 10  # a unit mistake in a few rows (mm for cm)
        td.datasets.create(DATASET, raw, description="Fisher's iris, as loaded", tags={"domain": "botany"})
        ctx.step("iris v1 (raw)")
        clean = frame[frame["sample_id"] % 50 != 49]
        version = td.datasets.create(DATASET, clean, description="unit fix, hold-out rows removed", alias="prod")
        td.log_metric("rows", version.num_rows)
        ctx.step(f"iris v{version.version} (prod)")
        with tempfile.TemporaryDirectory() as tmp:
            _sketches(Path(tmp), frame)
            td.datasets.create(IMAGES, tmp, description="petal sketches, one per species", tags={"domain": "botany"})
        ctx.step("iris-sketches v1 (images)")
    ctx.shared["dataset_uri"] = f"datasets:/{DATASET}@prod"


def _sketches(folder: Path, frame: object) -> None:
    """One small PNG per species and sample: an ellipse sized by the petal's measurements."""
    from PIL import Image, ImageDraw

    colors = {0: (70, 130, 180), 1: (60, 160, 90), 2: (150, 80, 160)}
    for species, color in colors.items():
        target = folder / f"species-{species}"
        target.mkdir()
        rows = frame[frame["target"] == species].head(4)  # type: ignore[index]
        for _, row in rows.iterrows():
            image = Image.new("RGB", (64, 64), "white")
            w, h = 8 * row["petal width (cm)"], 8 * row["petal length (cm)"]
            ImageDraw.Draw(image).ellipse((32 - w, 32 - h / 2, 32 + w, 32 + h / 2), fill=color)
            buf = io.BytesIO()
            image.save(buf, format="PNG")
            (target / f"{int(row['sample_id']):03d}.png").write_bytes(buf.getvalue())
    (folder / "README.txt").write_text("Petal sketches drawn from the iris measurements.\n")


DATA = Scenario("iris-data", runs=3, play=prepare_iris)
