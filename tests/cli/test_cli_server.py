"""``treadle server``: arguments reach ``run_server``; a real server answers the CLI over HTTP."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli.helpers import Invoke, Ok, assert_user_error


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr("treadle.server.run_server", lambda **kwargs: calls.append(kwargs))
    return calls


def test_server_passes_options_and_store(ok: Ok, served: list[dict[str, Any]], store_env: Path) -> None:
    text = ok("server", "--host", "0.0.0.0", "--port", "9999", "--workers", "3", "--insecure")
    assert "http://0.0.0.0:9999" in text
    assert served == [
        {
            "host": "0.0.0.0",
            "port": 9999,
            "workers": 3,
            "uri": f"sqlite:///{store_env / 't.db'}",
            "artifacts": str(store_env / "art"),
            "auth": False,
        }
    ]


def test_server_defaults(ok: Ok, served: list[dict[str, Any]]) -> None:
    ok("server")
    assert (served[0]["host"], served[0]["port"], served[0]["workers"]) == ("127.0.0.1", 8765, 1)


def test_server_refuses_a_server_uri(cli: Invoke, served: list[dict[str, Any]]) -> None:
    assert_user_error(cli("--uri", "http://127.0.0.1:8765", "server"), "serves a database")
    assert served == []


def test_server_rejects_a_bad_port(cli: Invoke, served: list[dict[str, Any]]) -> None:
    assert cli("server", "--port", "70000").exit_code == 2
    assert served == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live_server(store_env: Path) -> Iterator[str]:
    """``treadle server`` in a subprocess, through the console-script entry point."""
    port = _free_port()
    code = "from treadle.cli import main; main()"
    proc = subprocess.Popen([sys.executable, "-c", code, "server", "--port", str(port)])
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, "the server exited"
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.slow
def test_cli_against_a_live_server(ok: Ok, cli: Invoke, live_server: str) -> None:
    ok("--uri", live_server, "experiments", "create", "remote-exp")
    assert "remote-exp" in ok("--uri", live_server, "experiments", "list")
    assert "remote-exp" in ok("experiments", "list")  # the same store, read directly
    assert_user_error(cli("--uri", live_server, "runs", "show", "nope"), "run 'nope' does not exist")
    assert "0 unreferenced" in ok("--uri", live_server, "gc")
