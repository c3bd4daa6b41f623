"""``treadle server``: the HTTP API and web UI over the configured store."""

from __future__ import annotations

from typing import Annotated

import typer

from treadle.cli._context import state
from treadle.cli._output import fail, note


def serve(
    uri: str, artifacts: str, host: str, port: int, workers: int, auth: bool = False, insecure: bool = False
) -> None:
    """Start the server in this process (blocks until interrupted)."""
    if uri.startswith(("http://", "https://")):
        fail(
            f"a treadle server serves a database, not another server ({uri}); "
            "pass --uri sqlite:///... or postgresql+psycopg://..."
        )
    from treadle.server import auth_required, run_server

    auth = auth_required(host, auth=auth, insecure=insecure)
    if auth:
        from treadle.access import AccessService
        from treadle.store import Store

        access = AccessService(Store(uri))
        if not access.has_users():
            fail(
                "auth is on but there are no users yet: create an admin first with "
                "`treadle users create NAME --admin` (against the same --uri), then start the server again"
            )
        access.dispose()
    mode = "sign-in required" if auth else "no sign-in (loopback only)" if not insecure else "NO SIGN-IN (--insecure)"
    note(f"treadle server on http://{host}:{port} (store {uri}; {mode}); Ctrl+C to stop")
    run_server(host=host, port=port, workers=workers, uri=uri, artifacts=artifacts, auth=auth)


def server(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", min=1, max=65535, help="Port to listen on.")] = 8765,
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, help="Worker processes.")] = 1,
    auth: Annotated[
        bool, typer.Option("--auth", help="Require sign-in (always on when --host is not a loopback address).")
    ] = False,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Serve a non-loopback address without sign-in (trusted networks only).")
    ] = False,
) -> None:
    """Serve the HTTP API and web UI over the store given by --uri (and its workspaces, under /w/NAME)."""
    cli = state(ctx)
    serve(cli.uri, cli.artifacts, host, port, workers, auth=auth, insecure=insecure)
