"""``treadle export triton|kserve``: hand registry models to other serving frameworks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from treadle.cli._context import state
from treadle.cli._output import note

app = typer.Typer(no_args_is_help=True, help="Export models and deployments for Triton or KServe.")


@app.command("triton")
def triton(
    ctx: typer.Context,
    model_uri: Annotated[str, typer.Argument(metavar="MODEL_URI", help="models:/name/3, models:/name@alias, a path.")],
    out_dir: Annotated[Path, typer.Argument(metavar="DIR", help="The Triton model repository to write into.")],
    name: Annotated[str | None, typer.Option("--name", help="Triton model name [default: the model's].")] = None,
    max_batch_size: Annotated[
        int, typer.Option("--max-batch-size", min=0, help="Triton's max_batch_size (0: no batching).")
    ] = 64,
) -> None:
    """Write DIR/<name>/config.pbtxt and DIR/<name>/<version>/model.onnx (or model.pt for PyTorch)."""
    from treadle.serving._export_triton import export_triton

    needs_client = model_uri.startswith(("models:/", "runs:/"))
    client = state(ctx).client() if needs_client else None
    result = export_triton(model_uri, out_dir, name=name, max_batch_size=max_batch_size, client=client)
    note(
        f"Wrote {result.path}/config.pbtxt ({result.platform}, max_batch_size {result.max_batch_size}) "
        f"and {result.model_file}."
    )


@app.command("kserve")
def kserve(
    ctx: typer.Context,
    deployment: Annotated[str, typer.Argument(metavar="DEPLOYMENT", help="A stored deployment's name.")],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the YAML here [default: stdout].")
    ] = None,
    revision: Annotated[
        int | None, typer.Option("--revision", help="A past revision [default: the current one].")
    ] = None,
    namespace: Annotated[str | None, typer.Option("--namespace", "-n", help="Kubernetes namespace.")] = None,
    storage_prefix: Annotated[
        str, typer.Option("--storage-prefix", help="Where the cluster reads models: PREFIX/<model>/<version>.")
    ] = "pvc://treadle-models",
) -> None:
    """Write a KServe InferenceService (serving.kserve.io/v1beta1) for a deployment."""
    from treadle.serving._export_kserve import export_kserve, kserve_yaml

    manifest = export_kserve(
        deployment, client=state(ctx).client(), revision=revision, namespace=namespace, storage_prefix=storage_prefix
    )
    text = kserve_yaml(manifest)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        note(f"Wrote {output}.")
