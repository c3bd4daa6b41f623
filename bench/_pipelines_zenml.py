"""ZenML side of bench/pipelines.py; runs inside .bench-venv-zenml (never imports treadle).

Usage: python _pipelines_zenml.py WORKDIR. WORKDIR is a ``zenml init`` repository with its own
global configuration (``ZENML_CONFIG_PATH``, set by the driver), so the default stack (local
orchestrator, local artifact store, SQLite) is created fresh for the benchmark. A long-lived worker
speaking bench/_worker.py's line protocol, so the driver can alternate the two systems' repeats.

The steps are ZenML's own defaults (step logs, artifact metadata and visualisations on) except for
caching, which is off so that every step really runs.
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
import time
from typing import Any

from _worker import serve

WORKDIR = sys.argv[1]
# ZenML resolves step sources relative to the repository root: the steps must live inside it.
shutil.copy(os.path.join(os.path.dirname(os.path.abspath(__file__)), "_pipelines_zenml_steps.py"), WORKDIR)
os.chdir(WORKDIR)
sys.path.insert(0, WORKDIR)

from zenml.client import Client  # noqa: E402

from _pipelines_zenml_steps import chain  # noqa: E402 - copied just above


class Worker:
    def __init__(self) -> None:
        self.pipelines: dict[int, Any] = {}

    def info(self) -> dict[str, Any]:
        import zenml

        stack = Client().active_stack
        return {
            "version": zenml.__version__,
            "python": platform.python_version(),
            "orchestrator": stack.orchestrator.flavor,
            "artifact_store": stack.artifact_store.flavor,
        }

    def run(self, n: int, start: int) -> dict[str, Any]:
        flow = self.pipelines.setdefault(n, chain(n))
        t0, c0 = time.perf_counter(), time.process_time()
        run = flow(start=start)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        run = Client().get_pipeline_run(run.id)
        steps = sorted(run.steps.values(), key=lambda s: s.start_time or 0)
        last = steps[-1].outputs["output"][0].load() if steps else None
        return {
            "time_s": elapsed,
            "cpu_s": cpu,
            "status": str(run.status.value),
            "steps": len(steps),
            "output": last,
        }


if __name__ == "__main__":
    serve(Worker())
