"""Fixtures for the MLflow-compatible API: the real ``mlflow`` client against a live ``treadle server``.

- ``mlflow_python``: a venv at ``<repo>/.venv-mlflow`` with ``mlflow==3.17.2`` (and scikit-learn),
  found or created once (a symlink to an existing venv with that version is accepted);
- ``mlflow_server``: a real treadle server (uvicorn on a thread) over a fresh SQLite store;
- ``run_mlflow``: runs a client script in that venv with ``MLFLOW_TRACKING_URI`` pointing at the
  server, fails the test with the script's output if it exits non-zero, returns its stdout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MLFLOW_VENV = ROOT / ".venv-mlflow"
MLFLOW_VERSION = "3.17.2"
MLFLOW_PINS = ("scikit-learn",)


def _version(python: Path) -> str:
    probe = subprocess.run(
        [str(python), "-c", "import mlflow; print(mlflow.__version__)"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return probe.stdout.strip()


@pytest.fixture(scope="session")
def mlflow_python() -> Path:
    """The interpreter of a venv holding the pinned mlflow client (created on first use)."""
    python = MLFLOW_VENV / "bin" / "python"
    if python.exists() and _version(python) == MLFLOW_VERSION:
        return python
    if not python.exists():
        base = shutil.which("python3") or sys.executable
        subprocess.run([base, "-m", "venv", str(MLFLOW_VENV)], check=True, timeout=300)
    try:
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", f"mlflow=={MLFLOW_VERSION}", *MLFLOW_PINS],
            check=True,
            timeout=1800,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        if os.environ.get("CI"):  # CI must run the real client: a missing one is a failure there
            raise
        pytest.skip(f"cannot install mlflow=={MLFLOW_VERSION} into {MLFLOW_VENV}: {exc}")
    return python


@dataclass(frozen=True)
class MlflowServer:
    url: str  # http://127.0.0.1:<port>, the MLFLOW_TRACKING_URI
    uri: str  # the treadle store behind it
    artifacts: str
    root: Path


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """A real treadle server over a fresh SQLite store, shared by the session's mlflow tests."""
    from treadle.server import create_app
    from treadle.testing.server import serve

    root = tmp_path_factory.mktemp("mlflow-server")
    uri, artifacts = f"sqlite:///{root / 'treadle.db'}", str(root / "artifacts")
    with serve(create_app(uri, artifacts)) as url:
        yield MlflowServer(url=url, uri=uri, artifacts=artifacts, root=root)


RunMlflow = Callable[..., str]


@pytest.fixture
def run_mlflow(mlflow_python: Path, mlflow_server: MlflowServer, tmp_path: Path) -> RunMlflow:
    """``run_mlflow(script, timeout=300, env={})`` -> stdout; the script runs in ``tmp_path``."""

    def run(script: str, timeout: float = 300, env: dict[str, str] | None = None) -> str:
        path = tmp_path / "client_script.py"
        path.write_text(textwrap.dedent(script))
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "TREADLE_", "PYTHONPATH"))}
        full_env.update(
            MLFLOW_TRACKING_URI=mlflow_server.url,
            MLFLOW_HTTP_REQUEST_MAX_RETRIES="0",  # a 5xx must fail the script, not be retried for minutes
            MLFLOW_ENABLE_ASYNC_LOGGING="false",
            GIT_PYTHON_REFRESH="quiet",
            PYTHONUNBUFFERED="1",
        )
        full_env.update(env or {})
        done = subprocess.run(
            [str(mlflow_python), str(path)],
            cwd=tmp_path,
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(
                f"mlflow client script exited {done.returncode}\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
            )
        return done.stdout

    return run
