"""``treadle server``: the HTTP API (derived from the services), blob streaming, and the web UI."""

from treadle.server._app import app_from_env, create_app
from treadle.server._run import auth_required, run_server

__all__ = ["app_from_env", "auth_required", "create_app", "run_server"]
