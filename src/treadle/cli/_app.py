"""The root ``treadle`` app: global options, error reporting, and the command groups."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from pydantic import ValidationError
from typer.core import TyperGroup

from treadle.cli import (
    _access,
    _artifacts,
    _datasets,
    _db,
    _demo,
    _deploy,
    _env,
    _evaluate,
    _experiments,
    _export,
    _features,
    _import_mlflow,
    _models,
    _monitor,
    _pipelines,
    _runs,
    _scheduler,
    _serve,
    _server,
    _train,
    _tune,
    _workspaces,
)
from treadle.cli._context import CliState
from treadle.cli._output import print_error
from treadle.errors import TreadleError


class _TreadleGroup(TyperGroup):
    """Turns treadle's errors (user mistakes: unknown ids, bad filters, ...) into one red line and exit 1."""

    def invoke(self, ctx: Any) -> Any:  # typer.Context; typed loosely as typer vendors click
        try:
            return super().invoke(ctx)
        except TreadleError as exc:
            print_error(exc.message)
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=_TreadleGroup,
    name="treadle",
    help="treadle: the whole machine-learning loop in one package.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from treadle import __version__

        typer.echo(f"treadle {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    uri: Annotated[
        str | None,
        typer.Option(
            "--uri",
            help="Database (sqlite:///path.db, postgresql+psycopg://...) or server (http://host:port). "
            "[default: $TREADLE_URI or sqlite:///.treadle/treadle.db]",
            show_default=False,
        ),
    ] = None,
    artifacts: Annotated[
        str | None,
        typer.Option(
            "--artifacts",
            help="Blob store root, a path or an fsspec URL (ignored for a server). "
            "[default: $TREADLE_ARTIFACTS or .treadle/artifacts]",
            show_default=False,
        ),
    ] = None,
    workspace: Annotated[
        str | None,
        typer.Option(
            "--workspace",
            help="Workspace to work in, a server's or the database's (default: $TREADLE_WORKSPACE, else default).",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """treadle: the whole machine-learning loop in one package."""
    from treadle.config import Settings

    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "TREADLE_" + "_".join(str(part) for part in first["loc"]).upper()
        print_error(f"bad environment variable {name}: {first['msg']}")
        raise typer.Exit(1) from None
    ctx.obj = CliState(uri=uri or settings.uri, artifacts=artifacts or settings.artifacts, workspace=workspace)


app.command("server")(_server.server)
app.command("serve")(_serve.serve)
app.add_typer(_experiments.app, name="experiments")
app.add_typer(_runs.app, name="runs")
app.add_typer(_artifacts.app, name="artifacts")
app.add_typer(_models.app, name="models")
app.add_typer(_datasets.app, name="datasets")
app.add_typer(_features.app, name="features")
app.add_typer(_deploy.app, name="deploy")
app.add_typer(_export.app, name="export")
app.add_typer(_import_mlflow.app, name="import")
app.add_typer(_pipelines.app, name="pipelines")
app.add_typer(_tune.app, name="tune")
app.add_typer(_env.app, name="env")
app.command("evaluate")(_evaluate.evaluate)
app.add_typer(_evaluate.app, name="evaluations")
app.add_typer(_monitor.app, name="monitor")
# treadle train / treadle scheduler are registered by their modules' work: see _train.py, _scheduler.py
app.command("train", context_settings=_train.CONTEXT)(_train.train)
app.command("scheduler")(_scheduler.scheduler)
app.command("gc")(_artifacts.gc)
app.add_typer(_db.app, name="db")
app.command("demo")(_demo.demo)
app.add_typer(_access.users, name="users")
app.add_typer(_access.tokens, name="tokens")
app.add_typer(_workspaces.app, name="workspaces")
app.command("audit")(_workspaces.audit)
app.command("whoami")(_access.whoami)


def main() -> None:
    """Console-script entry point."""
    app(prog_name="treadle")
