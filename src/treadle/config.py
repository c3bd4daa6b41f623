"""One settings object, read from ``TREADLE_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_HOME = Path(".treadle")


class Settings(BaseSettings):
    """Where treadle keeps its metadata and blobs, and how the SDK behaves.

    ``uri`` selects the backend: ``sqlite:///path.db``, ``postgresql+psycopg://...`` or
    ``http(s)://host:port`` for a treadle server. ``artifacts`` is the blob store root
    (a local path or an fsspec URL such as ``s3://bucket/prefix`` or ``memory://x``); it is
    ignored when ``uri`` is a server, which owns its own artifact store.
    """

    model_config = SettingsConfigDict(env_prefix="TREADLE_", extra="ignore")

    uri: str = Field(default=f"sqlite:///{DEFAULT_HOME / 'treadle.db'}")
    artifacts: str = Field(default=str(DEFAULT_HOME / "artifacts"))
    # An API token for a server with auth on (sent as a Bearer token); and the workspace to work in.
    token: str | None = None
    workspace: str | None = None
    # SDK batcher: how many points per request and how long a point may wait.
    batch_size: int = 1000
    flush_interval_s: float = 1.0
    # Seconds between system-metric samples; 0 turns them off.
    system_metrics_interval_s: float = 0.0
    capture_environment: bool = True
    # Feature store: where online feature values live (``sqlite:///path`` embedded, ``redis://host:port/db``).
    online_store: str = Field(default=f"sqlite:///{DEFAULT_HOME / 'online.db'}")
    # Server: whether apply over HTTP may register on-demand feature views (pickled Python the server runs).
    server_accept_code: bool = False
    # Server: seconds between webhook delivery passes; 0 turns the dispatcher off.
    webhook_interval_s: float = 2.0
    # Server: require sign-in (`treadle server --auth`; on by default off loopback, see run_server).
    auth: bool = False
    # Server: run the pipeline scheduler loop (`treadle server` turns it on; see treadle.pipelines.Scheduler).
    scheduler: bool = False
    scheduler_poll_s: float = 1.0
    scheduler_max_concurrent: int = 4
    # Scheduler: run due model monitors each leader tick (see treadle.monitoring.run_due).
    monitors: bool = True


def get_settings() -> Settings:
    return Settings()
