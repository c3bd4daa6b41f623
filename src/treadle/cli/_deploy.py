"""``treadle deploy``: apply a deployment spec, watch its statistics, promote or roll it back."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from treadle.cli._context import actor, state
from treadle.cli._output import fmt_time, key_value_grid, note, out, plural
from treadle.rollout import Deployment, DeploymentSpec, DeploymentStats, VariantStats, deployments

app = typer.Typer(
    no_args_is_help=True,
    help="Deployments: canary, shadow, A/B tests and bandits with statistics, promotion and rollback.",
)

DeploymentName = Annotated[str, typer.Argument(metavar="NAME", help="The deployment's name.")]
STATUS_STYLES = {"active": "blue", "promoted": "green", "rolled_back": "red"}


def _status(deployment: Deployment) -> Text:
    return Text(deployment.status, style=STATUS_STYLES.get(deployment.status, ""))


def _split(spec: DeploymentSpec) -> str:
    """``champion 90%, canary 10%``; bandits list the arms they may still pull."""
    variants = spec.variants
    if spec.bandit is not None:
        return f"bandit ({spec.bandit.policy}): " + ", ".join(v.name for v in variants if v.weight > 0)
    total = sum(v.weight for v in variants) or 1.0
    return ", ".join(f"{v.name} {100 * v.weight / total:.0f}%" for v in variants)


@app.command("apply")
def apply(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(metavar="FILE.yaml", help="The deployment spec (YAML).")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and show what would change; write nothing.")
    ] = False,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (kept in the revision history).")] = None,
) -> None:
    """Create a deployment or give it a new revision (applying the same spec again changes nothing)."""
    client = state(ctx).client()
    spec, revision = deployments.plan(file, client=client)
    if dry_run:
        if revision is None:
            note(f"{spec.name}: unchanged (dry run)")
        else:
            note(f"{spec.name}: would write revision {revision} ({spec.mode}: {_split(spec)}) (dry run)")
        return
    done = client.rollout.apply_deployment(spec, actor=actor(), reason=reason)
    if revision is None:
        note(f"{done.name}: unchanged at revision {done.revision}")
    else:
        note(f"{done.name}: revision {done.revision} applied ({spec.mode}: {_split(done.spec)})")


def _num(value: float | None, fmt: str = "{:.3g}") -> str:
    return "" if value is None else fmt.format(value)


def _ci(v: VariantStats) -> str:
    if v.reward_mean is None:
        return ""
    return f"{v.reward_mean:.4g} [{_num(v.ci_low, '{:.4g}')}, {_num(v.ci_high, '{:.4g}')}]"


def _stats_table(stats: DeploymentStats) -> Table:
    table = Table(title=f"{stats.name} r{stats.revision} ({stats.mode})")
    for column, justify in (
        ("variant", "left"),
        ("model", "left"),
        ("weight", "right"),
        ("share", "right"),
        ("requests", "right"),
        ("errors", "right"),
        ("p50 ms", "right"),
        ("p99 ms", "right"),
        ("rewards", "right"),
        ("mean [95% CI]", "right"),
        ("P(best)", "right"),
        ("p-value", "right"),
    ):
        table.add_column(column, justify=justify, no_wrap=column != "model")  # type: ignore[arg-type]
    for i, v in enumerate(stats.variants):
        share = "" if v.observed_share is None else f"{100 * v.observed_share:.1f}%"
        if v.expected_share is not None:
            share += f" / {100 * v.expected_share:.0f}%"
        winner = v.variant == stats.winner
        table.add_row(
            Text(v.variant + (" *" if winner else ""), style="bold green" if winner and stats.significant else "bold"),
            v.model,
            f"{v.weight:g}",
            share,
            str(v.requests),
            f"{v.errors} ({100 * v.error_rate:.1f}%)" if v.requests else "0",
            _num(v.p50_ms),
            _num(v.p99_ms),
            str(v.rewards),
            _ci(v),
            _num(v.prob_best, "{:.3f}"),
            "control" if i == 0 else _num(v.p_value, "{:.3g}"),
        )
    return table


@app.command("status")
def status(
    ctx: typer.Context,
    name: DeploymentName,
    revision: Annotated[int | None, typer.Option("--revision", "-r", help="Another revision than the current.")] = None,
) -> None:
    """Per-variant traffic, errors, latency, rewards with 95% intervals, P(best), SRM and guardrails."""
    client = state(ctx).client()
    deployment = client.rollout.get_deployment(name, revision)
    stats = client.rollout.get_stats(name, deployment.revision)
    console = out()
    srm = "" if stats.srm_p_value is None else f"p = {stats.srm_p_value:.3g}" + (" MISMATCH" if stats.srm else " ok")
    console.print(
        key_value_grid(
            [
                ("deployment", f"{name} revision {deployment.revision}"),
                ("status", _status(deployment)),
                ("reason", deployment.reason or ""),
                ("split", _split(deployment.spec)),
                ("sample ratio", Text(srm, style="bold red" if stats.srm else "")),
                (
                    "winner",
                    f"{stats.winner} ({'significant' if stats.significant else 'not yet significant'})"
                    if stats.winner
                    else "",
                ),
            ]
        )
    )
    console.print(_stats_table(stats))
    if stats.guardrail_breaches:
        for breach in stats.guardrail_breaches:
            console.print(Text(f"guardrail breach: {breach}", style="bold red"), soft_wrap=True)
    elif deployment.spec.guardrails is not None:
        console.print(Text("guardrails: ok", style="green"))


@app.command("promote")
def promote(
    ctx: typer.Context,
    name: DeploymentName,
    variant: Annotated[
        str | None, typer.Option("--variant", help="The variant to promote [default: the winner].")
    ] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (kept in the alias history).")] = None,
) -> None:
    """End the experiment: move the registry alias to the variant's version; all traffic to the alias."""
    done = state(ctx).client().rollout.promote(name, variant, actor=actor(), reason=reason)
    note(f"{name}: promoted at revision {done.revision} ({_split(done.spec)})")


@app.command("rollback")
def rollback(
    ctx: typer.Context,
    name: DeploymentName,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (kept in the alias history).")] = None,
) -> None:
    """Send all traffic back to the control variant (every other weight becomes 0)."""
    done = state(ctx).client().rollout.rollback(name, actor=actor(), reason=reason)
    note(f"{name}: rolled back at revision {done.revision} ({_split(done.spec)})")


@app.command("list")
def list_deployments(ctx: typer.Context) -> None:
    """Every deployment: current revision, status, mode and traffic split."""
    found = state(ctx).client().rollout.list_deployments()
    if not found:
        note("no deployments yet; create one with `treadle deploy apply FILE.yaml`")
        return
    table = Table(title=plural(len(found), "deployment"))
    for column in ("name", "revision", "status", "mode", "split", "updated"):
        table.add_column(column, no_wrap=column != "split")
    for d in found:
        table.add_row(d.name, str(d.revision), _status(d), d.spec.mode, _split(d.spec), fmt_time(d.created_at))
    out().print(table)


@app.command("history")
def history(ctx: typer.Context, name: DeploymentName) -> None:
    """Every revision, newest first: who, when, status, split and why."""
    found = state(ctx).client().rollout.deployment_history(name)
    table = Table(title=f"{name}: {plural(len(found), 'revision')}")
    for column in ("revision", "when", "by", "status", "split", "reason"):
        table.add_column(column, no_wrap=column in ("revision", "when", "status"))
    for d in found:
        table.add_row(
            str(d.revision), fmt_time(d.created_at), d.created_by or "", _status(d), _split(d.spec), d.reason or ""
        )
    out().print(table)
