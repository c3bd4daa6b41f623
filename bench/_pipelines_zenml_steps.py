"""The ZenML pipeline of bench/pipelines.py: ``n`` trivial steps in a chain, caching off.

Copied into the ``zenml init`` repository by bench/_pipelines_zenml.py before it is imported:
ZenML resolves a step's source relative to the repository root and refuses files outside it.
"""

from __future__ import annotations

from typing import Any

from zenml import pipeline, step


@step(enable_cache=False)
def inc(x: int) -> int:
    return x + 1


def chain(n: int) -> Any:
    """A pipeline of ``n`` ``inc`` steps, each fed by the one before."""

    @pipeline(name=f"bench_chain_{n}", enable_cache=False)
    def body(start: int = 0) -> None:
        x = inc(start)
        for _ in range(n - 1):
            x = inc(x)

    return body
