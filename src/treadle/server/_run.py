"""Starting uvicorn with one or many worker processes."""

from __future__ import annotations

import ipaddress
import os

import uvicorn

from treadle.config import Settings
from treadle.store import Store


def auth_required(host: str, *, auth: bool = False, insecure: bool = False) -> bool:
    """Sign-in is on when asked for, and whenever the server listens beyond loopback unless ``insecure``."""
    if auth:
        return True
    if insecure:
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host != "localhost"  # a host name other than localhost may resolve to anything


def run_server(
    host: str = "127.0.0.1",
    port: int = 8765,
    workers: int = 1,
    uri: str | None = None,
    artifacts: str | None = None,
    auth: bool = False,
) -> None:
    settings = Settings()
    uri = uri or settings.uri
    artifacts = artifacts or settings.artifacts
    # Workers read their configuration from the environment; migrate once before they start.
    os.environ["TREADLE_URI"] = uri
    os.environ["TREADLE_AUTH"] = "true" if auth else "false"
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
