"""``treadle server``: the HTTP API and web UI over the configured store."""

from __future__ import annotations

from typing import Annotated

import typer

from treadle.cli._context import state
from treadle.cli._output import fail, note


def serve(uri: str, artifacts: str, host: str, port: int, workers: int) -> None:
    """Start the server in this process (blocks until interrupted)."""
    if uri.startswith(("http://", "https://")):
        fail(
            f"a treadle server serves a database, not another server ({uri}); "
            "pass --uri sqlite:///... or postgresql+psycopg://..."
        )
    from treadle.server import run_server

    note(f"treadle server on http://{host}:{port} (store {uri}); Ctrl+C to stop")
    run_server(host=host, port=port, workers=workers, uri=uri, artifacts=artifacts)


def server(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", min=1, max=65535, help="Port to listen on.")] = 8765,
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, help="Worker processes.")] = 1,
) -> None:
    """Serve the HTTP API and web UI over the store given by --uri."""
    cli = state(ctx)
    serve(cli.uri, cli.artifacts, host, port, workers)
