"""Helpers the CLI tests share."""

from __future__ import annotations

from collections.abc import Callable

from typer.testing import Result

Invoke = Callable[..., Result]  # the ``cli`` fixture: any exit code
Ok = Callable[..., str]  # the ``ok`` fixture: exit 0, returns the output


def assert_user_error(result: Result, *fragments: str) -> None:
    """Exit 1, one ``error:`` line naming what was wrong, and no traceback."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
