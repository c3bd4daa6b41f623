"""treadle side of bench/pipelines.py; runs inside .venv.

Usage: python _pipelines_treadle.py WORKDIR. The store is SQLite (``WORKDIR/treadle.db``) with local
artifacts, as a first ``treadle`` install has it; the in-process executor, caching off so that
every step really runs. A long-lived worker speaking bench/_worker.py's line protocol.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from typing import Any

import treadle as td
from _worker import serve
from treadle.pipelines import pipeline, step

WORKDIR = sys.argv[1]


@step(cache=False)
def inc(x: int) -> int:
    return x + 1


def chain(n: int) -> Any:
    """A pipeline of ``n`` ``inc`` steps, each fed by the one before."""

    @pipeline(name=f"bench_chain_{n}")
    def body(start: int = 0) -> Any:
        x = inc(start)
        for _ in range(n - 1):
            x = inc(x)
        return x

    return body


class Worker:
    def __init__(self) -> None:
        self.client = td.set_uri(
            f"sqlite:///{os.path.join(WORKDIR, 'treadle.db')}", os.path.join(WORKDIR, "treadle-artifacts")
        )
        self.pipelines: dict[int, Any] = {}

    def info(self) -> dict[str, Any]:
        return {"version": td.__version__, "python": platform.python_version(), "executor": "inprocess"}

    def run(self, n: int, start: int) -> dict[str, Any]:
        flow = self.pipelines.setdefault(n, chain(n))
        t0, c0 = time.perf_counter(), time.process_time()
        result = flow.run(start=start)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        return {
            "time_s": elapsed,
            "cpu_s": cpu,
            "status": result.status,
            "steps": len(result.steps),
            "output": result.output,
        }


if __name__ == "__main__":
    serve(Worker())
