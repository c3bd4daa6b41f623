"""The root app: global options, version, help and error reporting."""

from __future__ import annotations

from pathlib import Path

import pytest

import treadle as td
from tests.cli.helpers import Invoke, Ok, assert_user_error


def test_help_lists_every_command(ok: Ok) -> None:
    text = ok("--help")
    for command in ("server", "experiments", "runs", "artifacts", "models", "gc", "db", "demo"):
        assert command in text
    runs_help = ok("runs", "--help")
    for command in ("list", "show", "compare", "delete", "restore", "purge"):
        assert command in runs_help


def test_version(ok: Ok) -> None:
    assert ok("--version").strip() == f"treadle {td.__version__}"


def test_uri_option_overrides_the_environment(ok: Ok, tmp_path: Path, client: td.Client) -> None:
    other = f"sqlite:///{tmp_path / 'other.db'}"
    art = str(tmp_path / "other-art")
    ok("--uri", other, "--artifacts", art, "experiments", "create", "elsewhere")
    assert td.Client(other, art).tracking.get_experiment_by_name("elsewhere").name == "elsewhere"
    assert [e.name for e in client.tracking.list_experiments()] == []


def test_bad_uri_is_a_user_error(cli: Invoke) -> None:
    assert_user_error(cli("--uri", "ftp://nowhere", "runs", "list"), "neither a database", "ftp://nowhere")


def test_unreachable_server_is_a_user_error(cli: Invoke) -> None:
    assert_user_error(cli("--uri", "http://127.0.0.1:9", "experiments", "list"), "cannot reach")


def test_bad_settings_are_reported_without_traceback(cli: Invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TREADLE_BATCH_SIZE", "lots")
    assert_user_error(cli("experiments", "list"), "TREADLE_BATCH_SIZE", "integer")


def test_usage_errors_exit_2(cli: Invoke) -> None:
    result = cli("runs", "frobnicate")
    assert result.exit_code == 2
    assert "frobnicate" in result.output
