"""``treadle monitor``: watch a deployment's request log for drift, quality and performance.

``create`` and ``run`` go through :mod:`treadle.monitoring` (it profiles the reference and runs
the drift engine); the other commands read and change the monitor's state directly.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.table import Table
from rich.text import Text

from treadle.cli._context import state
from treadle.cli._output import echo_json, fail, fmt_number, fmt_time, key_value_grid, note, out, plural
from treadle.errors import InvalidArgument
from treadle.monitors import AlertRule, AlertState, Monitor, WindowReport, WindowSpec

app = typer.Typer(no_args_is_help=True, help="Monitor deployed models: drift, data quality, performance, alerts.")
RECENT = 10
LABEL_BATCH = 100_000  # the service's limit per call
# "[name:] metric op threshold [for N] [clear N]", e.g. "drift_share>0.3", "acc: performance.accuracy < 0.8 for 2"
_ALERT = re.compile(
    r"^\s*(?:(?P<name>[A-Za-z0-9_.\-]+)\s*:\s*)?(?P<metric>[^<>=:\s]+)\s*(?P<op>>=|<=|>|<)\s*(?P<threshold>\S+?)"
    r"(?:\s+for\s+(?P<for>\d+))?(?:\s+clear\s+(?P<clear>\d+))?\s*$"
)

ALERT_HELP = "'NAME: METRIC OP THRESHOLD for N clear M' (NAME:, for, clear optional): 'drift_share>0.3 for 2'; repeat."


def parse_alert(text: str) -> AlertRule:
    """An alert rule from ``[name:] metric op threshold [for N] [clear N]`` (name: the metric)."""
    match = _ALERT.match(text)
    threshold = None
    if match is not None:
        try:
            threshold = float(match["threshold"])
        except ValueError:
            threshold = None
    if match is None or threshold is None:
        raise InvalidArgument(
            f"alert {text!r} is not understood: write '[name:] METRIC OP THRESHOLD [for N] [clear N]', "
            "e.g. 'drift_share>0.3' or 'acc: performance.accuracy < 0.8 for 2 clear 3'"
        )
    try:
        return AlertRule.model_validate(
            {
                "name": match["name"] or match["metric"],
                "metric": match["metric"],
                "op": match["op"],
                "threshold": threshold,
                "for_windows": int(match["for"] or 1),
                "clear_windows": int(match["clear"] or 1),
            }
        )
    except ValidationError as exc:  # e.g. "for 0": say what, not a traceback
        raise InvalidArgument(f"alert {text!r}: {_first_error(exc)}") from None


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return f"{where}: {err['msg']}" if where else str(err["msg"])


@app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="The monitor's name.")],
    deployment: Annotated[str, typer.Option("--deployment", "-d", help="The deployment whose requests to watch.")],
    reference: Annotated[
        str | None,
        typer.Option(help="DATASET@VERSION (or @alias) to compare with (default: the training data, by lineage)."),
    ] = None,
    model: Annotated[str | None, typer.Option(help="Model URI (default: the deployment's control model).")] = None,
    target: Annotated[str | None, typer.Option(help="The reference's label column (not a feature).")] = None,
    feature: Annotated[list[str] | None, typer.Option("--feature", "-f", help="A monitored column; repeat.")] = None,
    task: Annotated[str, typer.Option(help="classification or regression.")] = "classification",
    window_rows: Annotated[int | None, typer.Option("--window-rows", help="Windows of N requests.")] = None,
    window_seconds: Annotated[int | None, typer.Option("--window-seconds", help="Windows of S seconds.")] = None,
    min_rows: Annotated[int, typer.Option(help="Smaller windows get no drift verdict.")] = 30,
    alert: Annotated[list[str] | None, typer.Option("--alert", "-a", help=ALERT_HELP)] = None,
    interval: Annotated[int, typer.Option(help="Seconds between the scheduler's runs.")] = 60,
    replace: Annotated[bool, typer.Option(help="Replace an existing monitor's spec (its windows stay).")] = False,
) -> None:
    """Create a monitor: profile the reference once and watch the deployment's request log."""
    from treadle.monitoring import create_monitor

    if window_rows is not None and window_seconds is not None:
        fail("give --window-rows or --window-seconds, not both")
    try:
        if window_seconds is not None:
            window = WindowSpec(kind="time", seconds=window_seconds, rows=None, min_rows=min_rows)
        else:
            window = WindowSpec(kind="count", rows=1000 if window_rows is None else window_rows, min_rows=min_rows)
    except ValidationError as exc:
        fail(f"bad window: {_first_error(exc)} (--window-rows, --window-seconds and --min-rows are at least 1)")
    if task not in ("classification", "regression"):
        fail(f"unknown task {task!r}: use classification or regression")
    monitor = create_monitor(
        name,
        deployment,
        model=model,
        reference=reference,
        target=target,
        features=feature or None,
        task=task,
        window=window,
        alerts=[parse_alert(a) for a in alert or []],
        interval_s=interval,
        replace=replace,
        client=state(ctx).client(),
    )
    ref = monitor.reference
    where = f" against {ref.dataset} v{ref.version}" if ref is not None and ref.dataset else ""
    note(f"{'Replaced' if replace else 'Created'} monitor {monitor.name} of deployment {deployment}{where}")


@app.command("list")
def list_monitors(
    ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False
) -> None:
    """Monitors with their latest window and firing alerts."""
    client = state(ctx).client()
    monitors = client.monitors.list_monitors()
    latest = {m.name: next(iter(client.monitors.list_windows(m.name, limit=1)), None) for m in monitors}
    firing = {m.name: [s.rule for s in client.monitors.alert_states(m.name) if s.state == "firing"] for m in monitors}
    if as_json:
        rows = [
            {**m.model_dump(mode="json"), "latest_window": _dump(latest[m.name]), "firing": firing[m.name]}
            for m in monitors
        ]
        echo_json(rows)
        return
    if not monitors:
        note("No monitors yet; create one with `treadle monitor create NAME --deployment D`.")
        return
    table = Table(title=plural(len(monitors), "monitor"))
    for col in ("name", "deployment", "enabled", "window", "last window", "drift share", "firing", "last run", "error"):
        table.add_column(col, no_wrap=col in ("name", "last window", "last run"))
    for m in monitors:
        w = latest[m.name]
        table.add_row(
            m.name,
            m.spec.deployment,
            "yes" if m.spec.enabled else "no",
            _window(m),
            fmt_time(w.end_ms, short=True) if w else "",
            fmt_number(w.drift_share) if w else "",
            Text(", ".join(firing[m.name]), style="bold red"),
            fmt_time(m.last_run_at, short=True),
            Text(m.last_error or "", style="red"),
        )
    out().print(table)


@app.command("show")
def show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="A monitor.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """A monitor: its spec and reference, alert states and recent windows."""
    client = state(ctx).client()
    m = client.monitors.get_monitor(name)
    states = client.monitors.alert_states(name)
    windows = client.monitors.list_windows(name, limit=RECENT)
    if as_json:
        body = {
            **m.model_dump(mode="json"),
            "alerts": [s.model_dump(mode="json") for s in states],
            "windows": [_dump(w) for w in windows],
        }
        echo_json(body)
        return
    ref = m.reference
    reference = "none yet (create it again with --replace)"
    if ref is not None:
        source = f"{ref.dataset} v{ref.version}" if ref.dataset else "given frame"
        reference = f"{source}, {ref.rows} rows, {len(ref.columns)} columns (found by {ref.found_by})"
    rows: list[tuple[str, str | Text]] = [
        ("monitor", m.name),
        ("deployment", m.spec.deployment),
        ("model", m.spec.model or ""),
        ("reference", reference),
        ("target", m.spec.target or ""),
        ("task", m.spec.task),
        ("window", _window(m)),
        ("interval", f"{m.spec.interval_s}s"),
        ("enabled", "yes" if m.spec.enabled else "no"),
        ("cursor", fmt_time(m.cursor_ms)),
        ("last run", fmt_time(m.last_run_at)),
        ("last error", Text(m.last_error or "", style="red")),
    ]
    out().print(key_value_grid(rows))
    if states:
        out().print(_alerts_table(m, states))
    if windows:
        out().print(windows_table(windows, f"last {plural(len(windows), 'window')}"))


@app.command("run")
def run(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="A monitor.")],
    as_of: Annotated[
        int | None, typer.Option("--as-of", help="Evaluate as if it were this time (epoch ms; default: now).")
    ] = None,
) -> None:
    """Evaluate every complete window since the monitor's cursor, now."""
    from treadle.monitoring import run_monitor

    reports = run_monitor(name, now_ms=as_of, client=state(ctx).client())
    if not reports:
        note(f"No complete window since the cursor of monitor {name}.")
        return
    out().print(windows_table(reports, f"recorded {plural(len(reports), 'window')}"))


@app.command("delete")
def delete(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(metavar="NAME", help="A monitor.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a monitor with its windows and alert states (labels stay)."""
    client = state(ctx).client()
    client.monitors.get_monitor(name)  # NotFound before asking
    if not yes:
        typer.confirm(f"Delete monitor {name!r} and its windows?", abort=True)
    client.monitors.delete_monitor(name)
    note(f"Deleted monitor {name}")


def _set_enabled(enabled: bool) -> Any:
    def command(ctx: typer.Context, name: Annotated[str, typer.Argument(metavar="NAME", help="A monitor.")]) -> None:
        state(ctx).client().monitors.set_monitor_enabled(name, enabled)
        note(f"{'Enabled' if enabled else 'Disabled'} monitor {name}")

    command.__doc__ = (
        "Resume a monitor's scheduled runs." if enabled else "Pause a monitor's scheduled runs (`run` still works)."
    )
    return command


app.command("enable")(_set_enabled(True))
app.command("disable")(_set_enabled(False))


@app.command("labels")
def labels(
    ctx: typer.Context,
    file: Annotated[Path, typer.Option("--file", help="CSV with request_id and label columns.")],
    endpoint: Annotated[str | None, typer.Option(help="Only requests of this endpoint (deployment).")] = None,
) -> None:
    """Log ground truth for served requests from a CSV (request_id,label)."""
    ids, values = read_labels_csv(file)
    client = state(ctx).client()
    accepted = updated = 0
    unknown: list[str] = []
    for i in range(0, len(ids), LABEL_BATCH):
        logged = client.monitors.log_labels(ids[i : i + LABEL_BATCH], values[i : i + LABEL_BATCH], endpoint)
        accepted, updated, unknown = accepted + logged.accepted, updated + logged.updated, unknown + logged.unknown
    note(f"Logged {plural(accepted, 'label')} ({updated} replaced earlier ones)")
    if unknown:
        shown = ", ".join(unknown[:5]) + (", ..." if len(unknown) > 5 else "")
        note(f"{plural(len(unknown), 'request id')} not in any request log, not stored: {shown}")


def read_labels_csv(path: Path) -> tuple[list[str], list[Any]]:
    """The request ids and labels of a CSV with a header naming ``request_id`` and ``label``;
    numeric labels become numbers, ``true``/``false`` booleans."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = {"request_id", "label"} - set(reader.fieldnames or [])
            if missing:
                raise InvalidArgument(
                    f"{path} needs a header with request_id and label columns; it has {reader.fieldnames or 'none'}"
                )
            rows = [(row["request_id"], row["label"]) for row in reader]
    except OSError as exc:
        raise InvalidArgument(f"cannot read {path}: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InvalidArgument(f"{path} is not a UTF-8 CSV file: {exc}") from exc
    for line, (rid, label) in enumerate(rows, start=2):
        if not rid or label is None or label == "":
            raise InvalidArgument(f"{path} line {line}: every row needs a request_id and a label")
    if not rows:
        raise InvalidArgument(f"{path} has no rows under its header")
    return [rid for rid, _ in rows], [_scalar(label) for _, label in rows]


def _scalar(text: str) -> Any:
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def windows_table(windows: list[WindowReport], title: str) -> Table:
    table = Table(title=title)
    for col in ("end", "rows", "drift share", "drifted columns", "missing", "performance", "estimated", "alerts"):
        table.add_column(col, no_wrap=col == "end", justify="right" if col in ("rows", "drift share") else "left")
    for w in windows:
        drifted = [c.column for c in w.columns if c.drifted]
        changes = [f"fired {r}" for r in w.fired] + [f"cleared {r}" for r in w.cleared]
        table.add_row(
            fmt_time(w.end_ms),
            str(w.rows),
            fmt_number(w.drift_share) if w.drift_share is not None else Text(w.note or "too small", style="dim"),
            Text(", ".join(drifted), style="yellow"),
            fmt_number(w.quality.missing_share) if w.quality else "",
            _metrics(w.performance),
            _metrics(w.estimated),
            Text("; ".join(changes), style="bold red" if w.fired else "green"),
        )
    return table


def _alerts_table(m: Monitor, states: list[AlertState]) -> Table:
    rules = {r.name: r for r in m.spec.alerts}
    table = Table(title="alerts")
    for col in ("rule", "condition", "state", "value", "breaches", "passes", "since"):
        table.add_column(col)
    for s in states:
        r = rules.get(s.rule)
        condition = f"{r.metric} {r.op} {fmt_number(r.threshold)} for {r.for_windows}" if r else ""
        table.add_row(
            s.rule,
            condition,
            Text(s.state, style="bold red" if s.state == "firing" else "green"),
            fmt_number(s.value),
            str(s.breaches),
            str(s.passes),
            fmt_time(s.since_ms),
        )
    return table


def _window(m: Monitor) -> str:
    w = m.spec.window
    return f"{w.seconds}s" if w.kind == "time" else f"{w.rows} rows"


def _metrics(values: dict[str, float] | None) -> str:
    return ", ".join(f"{k}={fmt_number(v)}" for k, v in sorted((values or {}).items()))


def _dump(window: WindowReport | None) -> dict[str, Any] | None:
    return None if window is None else window.model_dump(mode="json")
