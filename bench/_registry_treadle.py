"""treadle side of bench/registry.py; runs inside treadle's own .venv.

Usage: python _registry_treadle.py DATA.npz URI. A long-lived worker: it reads one JSON request a
line from stdin and answers through bench/_worker.py, so bench/registry.py can interleave the two
systems' repeats.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TREADLE_CAPTURE_ENVIRONMENT", "false")  # not part of what is timed; keeps setup short

from sklearn.linear_model import LogisticRegression

import treadle as td
from _worker import serve

ALIAS = "champion"


class Worker:
    def __init__(self, data: dict[str, np.ndarray], uri: str) -> None:
        self.x, self.y = data["x"], data["y"]
        self.model = LogisticRegression(max_iter=1000, random_state=0).fit(self.x, self.y)
        self.client = td.set_uri(uri)
        # Cache folders live in the worker's working directory (the benchmark's temporary directory).
        self.warm_cache = Path("treadle-cache-warm").resolve()
        self.cold_root = Path("treadle-cache-cold").resolve()
        self.cold_root.mkdir(exist_ok=True)

    def log(self) -> dict[str, Any]:
        """Log the model into a new run (once; not a timed phase)."""
        td.set_experiment("bench-registry")
        start = time.perf_counter()
        with td.start_run(name="registry-model"):
            uri = td.log_model(self.model, "model", input_example=self.x[:5])
        return {"seconds": time.perf_counter() - start, "uri": uri}

    def register(self, uri: str, name: str) -> dict[str, Any]:
        start = time.perf_counter()
        version = td.register_model(uri, name)
        elapsed = time.perf_counter() - start
        return {"time_s": elapsed, "version": int(version.version)}

    def set_alias(self, name: str, version: int) -> dict[str, Any]:
        td.set_alias(name, ALIAS, version)
        return {"version": int(self.client.get_model_version_by_alias(name, ALIAS).version)}

    def load(self, name: str, mode: str) -> dict[str, Any]:
        """``models:/name@champion`` until a predictor is ready; ``mode`` "warm" reuses one cache
        folder, "cold" points TREADLE_CACHE at a new empty folder so that every file is downloaded."""
        cache = self.warm_cache if mode == "warm" else Path(tempfile.mkdtemp(prefix="c-", dir=self.cold_root))
        os.environ["TREADLE_CACHE"] = str(cache)
        start = time.perf_counter()
        model = td.load_model(f"models:/{name}@{ALIAS}")
        elapsed = time.perf_counter() - start
        in_cache = Path(model.path).resolve().is_relative_to(cache)
        downloaded = sum(1 for p in (cache / "models").rglob("*") if p.is_file()) if mode == "cold" else None
        out = self.check(model.predict(self.x), model.native.predict_proba(self.x))
        if mode == "cold":
            shutil.rmtree(cache, ignore_errors=True)
        return {"time_s": elapsed, "from_cache_dir": in_cache, "files_downloaded": downloaded, **out}

    def check(self, labels: Any, proba: Any) -> dict[str, Any]:
        return {
            "labels": np.asarray(labels).tolist(),
            "proba": np.asarray(proba).tolist(),
            "same_as_original": bool(np.array_equal(np.asarray(labels), self.model.predict(self.x))),
        }

    def original(self) -> dict[str, Any]:
        return self.check(self.model.predict(self.x), self.model.predict_proba(self.x))

    def facts(self) -> dict[str, Any]:
        import sklearn

        return {"python": sys.version.split()[0], "version": td.__version__, "sklearn": sklearn.__version__}


def main() -> None:
    data_path, uri = sys.argv[1:3]
    with np.load(data_path) as npz:
        data = {k: npz[k] for k in npz.files}
    serve(Worker(data, uri))


if __name__ == "__main__":
    main()
