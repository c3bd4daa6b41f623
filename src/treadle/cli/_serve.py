"""``treadle serve``: the inference server for a model, a serving file or a deployment.

``treadle serve models:/churn@champion`` serves one model (reloading when the alias moves);
``treadle serve serving.yaml`` serves the file's models and graphs; ``treadle serve deployment NAME``
serves a rollout deployment (canary, shadow, A/B, bandit) with its request log and ``/feedback``.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from treadle.cli._context import state
from treadle.cli._output import fail, note


class Backend(StrEnum):
    local = "local"
    ray = "ray"


def serve(
    ctx: typer.Context,
    target: Annotated[
        str,
        typer.Argument(
            help="A model URI (models:/name@alias, models:/name/3, runs:/<run>/model, a folder), a serving "
            "YAML file, or the word 'deployment' followed by a deployment's name.",
            show_default=False,
        ),
    ],
    name: Annotated[
        str | None, typer.Argument(help="The deployment's name (after 'deployment').", show_default=False)
    ] = None,
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[
        int, typer.Option("--workers", "-w", min=0, help="Worker processes per model (0: in the server process).")
    ] = 1,
    max_replicas: Annotated[
        int | None, typer.Option("--max-replicas", min=1, help="Autoscale up to this many workers.")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", min=1, help="Turn adaptive batching on, up to this many rows.")
    ] = None,
    max_latency_ms: Annotated[
        float, typer.Option("--max-latency-ms", min=0, help="Longest a request waits for a batch to fill.")
    ] = 5.0,
    backend: Annotated[Backend, typer.Option("--backend", help="Where replicas run.")] = Backend.local,
    reload: Annotated[bool, typer.Option("--reload/--no-reload", help="Follow alias moves (hot reload).")] = True,
    log_requests: Annotated[
        bool, typer.Option("--log-requests", help="Write every request to the request log (deployments always do).")
    ] = False,
    model_name: Annotated[
        str | None, typer.Option("--name", help="The name the model answers to (default: from the URI).")
    ] = None,
) -> None:
    """Serve a model, a serving file or a deployment over the Open Inference Protocol and /invocations."""
    from treadle.serving._server import model_spec
    from treadle.serving._server import serve as run

    cli = state(ctx)
    client = cli.client()
    if target == "deployment":
        if not name:
            fail("name the deployment to serve: treadle serve deployment NAME")
        note(f"serving deployment {name} on http://{host}:{port}; Ctrl+C to stop")
        run(name, host=host, port=port, client=client, deployment=True, backend=backend.value)
        return
    if name is not None:
        fail(f"unexpected argument {name!r}: only 'treadle serve deployment NAME' takes two")
    _check_target(client, target)
    if target.endswith((".yaml", ".yml")):
        note(f"serving {target} on http://{host}:{port}; Ctrl+C to stop")
        run(target, host=host, port=port, client=client, backend=backend.value, log_requests=log_requests)
        return
    spec = model_spec(
        target,
        name=model_name,
        workers=workers,
        max_replicas=max_replicas,
        batch_size=batch_size,
        max_latency_ms=max_latency_ms,
        reload=reload,
    )
    note(f"serving {target} as {spec.name!r} on http://{host}:{port}; Ctrl+C to stop")
    run(target, host=host, port=port, client=client, backend=backend.value, log_requests=log_requests, spec=spec)


def _check_target(client: Any, target: str) -> None:
    """Fail before the server starts when the target cannot be served (a clear line, not a traceback)."""
    if target.startswith("models:/"):
        client.get_model_version_by_uri(target)  # NotFound / InvalidArgument say what is wrong
    elif not target.startswith("runs:/") and "://" not in target and not Path(target).exists():
        fail(f"nothing to serve at {target}: pass a models:/ or runs:/ URI, a model folder or a serving YAML file")
