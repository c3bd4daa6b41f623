"""Starting uvicorn with one or many worker processes."""

from __future__ import annotations

import os

import uvicorn

from treadle.config import Settings
from treadle.store import Store


def run_server(
    host: str = "127.0.0.1", port: int = 8765, workers: int = 1, uri: str | None = None, artifacts: str | None = None
) -> None:
    settings = Settings()
    uri = uri or settings.uri
    artifacts = artifacts or settings.artifacts
    # Workers read their configuration from the environment; migrate once before they start.
    os.environ["TREADLE_URI"] = uri
    os.environ.setdefault("TREADLE_SCHEDULER", "true")  # a served store runs its pipeline triggers
    os.environ["TREADLE_ARTIFACTS"] = os.path.abspath(artifacts) if "://" not in artifacts else artifacts
    Store(uri).dispose()
    uvicorn.run(
        "treadle.server._app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )
