"""``treadle evaluate MODEL_URI --data NAME@VERSION --target COL``: evaluate a model and gate it;
``treadle evaluations history MODEL``: its metrics across versions and pipeline runs."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from treadle.cli._context import state
from treadle.cli._output import echo_json, fmt_number, fmt_time, key_value_grid, note, out, plural

app = typer.Typer(no_args_is_help=True, help="Evaluation runs: a model's history.")


def evaluate(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(metavar="MODEL_URI", help="models:/name/3, models:/name@alias or runs:/...")],
    data: Annotated[
        str, typer.Option("--data", "-d", help="The evaluation dataset: NAME, NAME@VERSION or NAME@ALIAS.")
    ],
    target: Annotated[str, typer.Option("--target", "-t", help="The label column.")],
    task: Annotated[str, typer.Option(help="classification, regression or ranking.")] = "classification",
    slices: Annotated[
        list[str] | None,
        typer.Option("--slice", "-s", help="A slice column; 'a,b' slices by both; repeat for several."),
    ] = None,
    baseline: Annotated[str | None, typer.Option(help="Compare with this model, e.g. models:/name@champion.")] = None,
    threshold: Annotated[
        list[str] | None,
        typer.Option(
            "--threshold", help="'accuracy>=0.8', 'rmse<=3', 'f1:change>=0', 'f1:relative_change>=-0.01'; repeat."
        ),
    ] = None,
    group: Annotated[str | None, typer.Option(help="Ranking: the query id column.")] = None,
    k: Annotated[int, typer.Option(help="Ranking: the cut-off k.")] = 10,
    explain: Annotated[str, typer.Option(help="permutation, shap or none.")] = "permutation",
    experiment: Annotated[str | None, typer.Option(help="Experiment of the evaluation run.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole report as JSON.")] = False,
) -> None:
    """Evaluate a model on a dataset version (overall, per slice, against a baseline); exit 1 when
    the gate fails."""
    from treadle.evaluation import evaluate as run_evaluation
    from treadle.evaluation._gate import parse_threshold_expr

    thresholds: dict[str, dict[str, Any]] = {}
    for expr in threshold or []:
        metric, bound = parse_threshold_expr(expr)
        thresholds.setdefault(metric, {}).update(bound)
    slice_specs: list[Any] = [tuple(s.split(",")) if "," in s else s for s in slices or []]
    result = run_evaluation(
        model,
        data,
        targets=target,
        task=task,  # type: ignore[arg-type]
        slices=slice_specs or None,
        baseline=baseline,
        thresholds=thresholds or None,  # type: ignore[arg-type]
        explain=False if explain == "none" else explain,  # type: ignore[arg-type]
        group=group,
        k=k,
        experiment=experiment,
        client=state(ctx).client(),
    )
    if as_json:
        echo_json(result.to_dict())
    else:
        _print(result)
    if not result.passed:
        raise typer.Exit(1)


def _print(result: Any) -> None:
    rows = [
        ("model", result.model or "-"),
        ("data", f"{result.dataset or 'frame'} ({result.rows} rows)"),
        ("baseline", result.baseline_model or "-"),
        ("run", result.run_id or "-"),
        ("gate", "passed" if result.passed else "FAILED"),
    ]
    out().print(key_value_grid(rows))
    table = Table(title="metrics")
    for col in ("metric", "value", "baseline", "change"):
        table.add_column(col)
    overall = result.comparison.get("overall", {})
    for name, value in result.metrics.items():
        cmp = overall.get(name, {})
        table.add_row(name, fmt_number(value), fmt_number(cmp.get("baseline")), fmt_number(cmp.get("change")))
    out().print(table)
    if result.slices:
        names = list(result.metrics)[:4]
        st = Table(title=plural(len(result.slices), "slice"))
        for col in ("slice", "rows", *names):
            st.add_column(col)
        for label, s in result.slices.items():
            st.add_row(label, str(s.rows), *(fmt_number(s.metrics.get(n)) for n in names))
        out().print(st)
    for reason in result.blessing.reasons:
        note(f"- {reason}")


@app.command("history")
def history(
    ctx: typer.Context,
    model: Annotated[str, typer.Argument(metavar="MODEL", help="Registered model name.")],
    metric: Annotated[str | None, typer.Option("--metric", "-m", help="Show only this metric.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Every evaluation of a model, oldest first: version, pipeline run, metrics, blessed."""
    from treadle.evaluation import history as model_history

    rows = model_history(model, metric=metric, client=state(ctx).client())
    if as_json:
        echo_json(rows)
        return
    if not rows:
        note(f"No evaluations of {model}.")
        return
    names = sorted({m for r in rows for m in r["metrics"]})[:6]
    table = Table(title=plural(len(rows), "evaluation"))
    for col in ("run", "version", "pipeline run", "time", "blessed", *names):
        table.add_column(col, no_wrap=col in ("run", "time"))
    for r in rows:
        table.add_row(
            r["run_id"],
            str(r["version"] or "-"),
            (r["pipeline_run"] or "-")[:12],
            fmt_time(r["time"]),
            "yes" if r["blessed"] else "no",
            *(fmt_number(r["metrics"].get(n)) for n in names),
        )
    out().print(table)
