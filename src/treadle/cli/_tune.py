"""``treadle tune``: run a hyperparameter study on an objective, list studies, show one."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from treadle.cli._context import state
from treadle.cli._output import fmt_number, fmt_time, key_value_grid, note, out, plural
from treadle.errors import InvalidArgument

app = typer.Typer(no_args_is_help=True, help="Tune hyperparameters: run studies, list them, show one.")
TOP = 10


@app.command("run")
def run(
    ctx: typer.Context,
    ref: Annotated[
        str, typer.Argument(metavar="REF", help="The objective: pkg.module:function or path/file.py:function.")
    ],
    n_trials: Annotated[int, typer.Option("--n-trials", "-n", help="Trials in the study in total.")] = 100,
    sampler: Annotated[str, typer.Option(help="tpe, random, grid, cmaes or gp.")] = "tpe",
    pruner: Annotated[str | None, typer.Option(help="median, asha or hyperband (default: none).")] = None,
    direction: Annotated[
        list[str] | None, typer.Option("--direction", "-d", help="minimize or maximize; repeat for several objectives.")
    ] = None,
    parallelism: Annotated[int, typer.Option("--parallelism", "-p", help="Trials evaluated at once.")] = 1,
    executor: Annotated[str, typer.Option(help="process or ray (with --parallelism > 1).")] = "process",
    space: Annotated[
        Path | None, typer.Option(help="A YAML search space; the objective then takes a dict of params.")
    ] = None,
    study: Annotated[str | None, typer.Option("--study", "-s", help="Study name; an existing one resumes.")] = None,
    experiment: Annotated[str | None, typer.Option(help="Experiment of the study run (default: tuning).")] = None,
    timeout: Annotated[float | None, typer.Option(help="Stop starting trials after this many seconds.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the sampler.")] = None,
) -> None:
    """Run (or resume) a study: each trial a nested run of the study's run."""
    from treadle.tuning import load_space, tune

    objective = load_objective(ref)
    directions = direction or ["minimize"]
    result = tune(
        objective,
        load_space(space) if space is not None else None,
        n_trials=n_trials,
        sampler=sampler,
        pruner=pruner,
        directions=directions,
        parallelism=parallelism,
        executor=executor,  # type: ignore[arg-type]
        study_name=study,
        experiment=experiment,
        timeout_s=timeout,
        seed=seed,
        client=state(ctx).client(),
    )
    _show(ctx, result.study_name)


@app.command("list")
def list_studies(ctx: typer.Context) -> None:
    """List studies, most recently updated first."""
    studies = state(ctx).client().tuning.list_studies()
    if not studies:
        note("No studies.")
        return
    table = Table(title=plural(len(studies), "study").replace("studys", "studies"))
    for col in ("name", "directions", "trials", "complete", "pruned", "failed", "running", "best", "updated"):
        table.add_column(col, no_wrap=col in ("name", "updated"))
    for s in studies:
        table.add_row(
            s.name,
            ",".join(s.directions),
            str(s.n_trials),
            str(s.n_complete),
            str(s.n_pruned),
            str(s.n_failed),
            str(s.n_running),
            fmt_number(s.best_value),
            fmt_time(s.updated_at),
        )
    out().print(table)


@app.command("show")
def show(ctx: typer.Context, name: Annotated[str, typer.Argument(metavar="STUDY", help="Study name.")]) -> None:
    """A study: counts, its best trial (or Pareto front) and its best trials."""
    _show(ctx, name)


@app.command("delete")
def delete(ctx: typer.Context, name: Annotated[str, typer.Argument(metavar="STUDY", help="Study name.")]) -> None:
    """Delete a study's journal (the tracked runs of its trials stay)."""
    state(ctx).client().tuning.delete_study(name)
    note(f"Deleted study {name}")


def _show(ctx: typer.Context, name: str) -> None:
    from optuna.trial import TrialState

    from treadle.tuning import load_study

    client = state(ctx).client()
    summary = client.tuning.get_study(name)
    study = load_study(name, client)
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    rows: list[tuple[str, str]] = [
        ("study", summary.name),
        ("directions", ", ".join(summary.directions)),
        (
            "trials",
            f"{summary.n_trials} ({summary.n_complete} complete, {summary.n_pruned} pruned, "
            f"{summary.n_failed} failed, {summary.n_running} running)",
        ),
        ("run", summary.run_id or ""),
    ]
    if complete and len(summary.directions) == 1:
        best = study.best_trial
        rows += [("best trial", str(best.number)), ("best value", fmt_number(best.value))]
        rows += [("best params", ", ".join(f"{k}={v}" for k, v in best.params.items()))]
    elif complete:
        rows.append(("pareto front", ", ".join(str(t.number) for t in study.best_trials)))
    out().print(key_value_grid(rows))
    if not complete:
        return
    single = len(summary.directions) == 1
    reverse = single and summary.directions[0] == "maximize"
    top = sorted(complete, key=lambda t: t.values if not single else t.value, reverse=reverse)[:TOP]  # type: ignore[arg-type, return-value]
    table = Table(title=f"best {len(top)} trials" if single else "trials")
    table.add_column("trial", justify="right")
    table.add_column("value" if single else "values")
    table.add_column("params")
    for t in top:
        value = fmt_number(t.value) if single else ", ".join(fmt_number(v) for v in t.values)
        table.add_row(str(t.number), value, ", ".join(f"{k}={_short(v)}" for k, v in t.params.items()))
    out().print(table)


def _short(value: Any) -> str:
    return fmt_number(value) if isinstance(value, float) else str(value)


def load_objective(ref: str) -> Any:
    """The callable a ``module:attr`` or ``path/file.py:attr`` reference names."""
    target, sep, attr = ref.rpartition(":")
    if not sep or not target or not attr:
        raise InvalidArgument(f"objective {ref!r} must look like pkg.module:function or path/file.py:function")
    if target.endswith(".py") or "/" in target:
        path = Path(target).resolve()
        if not path.is_file():
            raise InvalidArgument(f"objective file {target!r} does not exist")
        sys.path.insert(0, str(path.parent))
        spec = importlib.util.spec_from_file_location(path.stem, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module
        spec.loader.exec_module(module)
    else:
        sys.path.insert(0, str(Path.cwd()))
        try:
            module = importlib.import_module(target)
        except ImportError as exc:
            raise InvalidArgument(f"cannot import {target!r} for objective {ref!r}: {exc}") from exc
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise InvalidArgument(f"{target!r} has no function {attr!r} (objective {ref!r})")
    return fn
