"""What the ``treadle pipelines`` commands share: KEY=VALUE options and loading a pipeline REF."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from treadle.cli._output import fail
from treadle.client import Client

Params = Annotated[
    list[str] | None,
    typer.Option(
        "--param", "-p", metavar="KEY=VALUE", help="A pipeline parameter (repeatable; VALUE is JSON or text)."
    ),
]


def parse_pairs(pairs: list[str] | None, what: str = "--param") -> dict[str, Any]:
    """``k=v`` pairs; each value is read as JSON when it parses (``3``, ``true``, ``[1,2]``), else kept as text."""
    result: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            fail(f"{what} takes KEY=VALUE, got {pair!r}")
        try:
            result[key.strip()] = json.loads(raw)
        except ValueError:
            result[key.strip()] = raw
    return result


def load(ref: str, client: Client) -> Any:
    """The ``@pipeline`` a REF names, registered (with where it lives) so schedules can start it later."""
    from treadle.pipelines import load_pipeline

    if ":" not in ref:
        fail(f"{ref!r} is not a pipeline reference: give module:attr or path/to/file.py:attr")
    pipe = load_pipeline(ref)
    client.pipelines.register_pipeline(pipe.spec)
    return pipe
