"""``treadle deploy``: apply (and --dry-run), status, promote, rollback, list, history."""

from __future__ import annotations

import uuid
from pathlib import Path

import treadle as td
from tests.cli.helpers import Invoke, Ok
from treadle.rollout import VariantTraffic

SPEC = """\
name: churn
routes:
  - {{name: champion, model: "models:/{model}@champion", weight: 90}}
  - {{name: canary, model: "models:/{model}/2", weight: 10}}
guardrails: {{max_error_rate: 0.05, min_requests: 50}}
"""


def _model(client: td.Client) -> str:
    exp = client.tracking.create_experiment("deploy-cli")
    run = client.tracking.create_run(exp.id)
    client.log_text(run.id, "flavor: sklearn\n", "model/treadle-model.yaml")
    client.log_bytes(run.id, uuid.uuid4().bytes, "model/model.pkl")
    for _ in range(2):
        client.registry.create_version("churn-model", f"runs:/{run.id}/model")
    client.registry.set_alias("churn-model", "champion", 1)
    return "churn-model"


def _spec_file(tmp_path: Path, model: str, extra: str = "") -> Path:
    path = tmp_path / "churn.yaml"
    path.write_text(SPEC.format(model=model) + extra)
    return path


def test_apply_dry_run_then_apply_then_unchanged(ok: Ok, cli: Invoke, client: td.Client, tmp_path: Path) -> None:
    path = _spec_file(tmp_path, "churn-model")
    assert "would write revision 1 (canary: champion 90%, canary 10%) (dry run)" in ok(
        "deploy", "apply", str(path), "--dry-run"
    )
    assert "no deployments yet" in ok("deploy", "list")
    assert "revision 1 applied" in ok("deploy", "apply", str(path), "--reason", "first canary")
    assert "unchanged at revision 1" in ok("deploy", "apply", str(path))
    assert "unchanged (dry run)" in ok("deploy", "apply", str(path), "--dry-run")
    listing = ok("deploy", "list")
    assert "churn" in listing and "active" in listing and "champion 90%, canary 10%" in listing
    assert client.rollout.get_deployment("churn").reason == "first canary"
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: churn\nroutes: []\nab: {unit_key: u, variants: []}\n")
    result = cli("deploy", "apply", str(bad))
    assert result.exit_code == 1 and "invalid deployment spec" in result.output
    missing = cli("deploy", "apply", str(tmp_path / "nope.yaml"))
    assert missing.exit_code == 1 and "does not exist" in missing.output


def test_status_shows_stats_and_guardrails(ok: Ok, client: td.Client, tmp_path: Path) -> None:
    ok("deploy", "apply", str(_spec_file(tmp_path, "churn-model")))
    client.rollout.record_traffic(
        "churn",
        1,
        [
            VariantTraffic(variant="champion", requests=900, errors=9),
            VariantTraffic(variant="canary", requests=100, errors=20),
        ],
    )
    for i in range(40):
        client.rollout.record_feedback(f"churn/1/champion/{i:016x}", float(i % 4 == 0))
    text = ok("deploy", "status", "churn")
    assert "churn revision 1" in text and "active" in text
    assert "900" in text and "20 (20.0%)" in text and "90.0% / 90%" in text
    assert "0.25 [" in text  # champion's reward mean with its interval
    assert "guardrail breach: variant 'canary': error rate 20.00% > 5.00% over 100 requests" in text
    assert "p = " in text and "MISMATCH" not in text


def test_promote_rollback_and_history(ok: Ok, cli: Invoke, client: td.Client, tmp_path: Path) -> None:
    model = _model(client)
    ok("deploy", "apply", str(_spec_file(tmp_path, model)))
    assert "rolled back at revision 2 (champion 100%, canary 0%)" in ok(
        "deploy", "rollback", "churn", "--reason", "errors in canary"
    )
    ok("deploy", "apply", str(_spec_file(tmp_path, model)))
    assert "promoted at revision 4 (champion 100%)" in ok("deploy", "promote", "churn", "--variant", "canary")
    assert client.registry.get_version_by_alias(model, "champion").version == 2
    reasons = [m.reason for m in client.registry.get_alias_history(model, "champion")]
    assert "errors in canary" in (reasons[-2] or "") and "promoted variant 'canary' by hand" in (reasons[-1] or "")
    history = ok("deploy", "history", "churn")
    assert (
        "4 revisions" in history
        and "rolled_back" in history
        and "promoted" in history
        and "errors in canary" in history
    )
    unknown = cli("deploy", "status", "nope")
    assert unknown.exit_code == 1 and "deployment 'nope' does not exist" in unknown.output
    no_winner = cli("deploy", "promote", "churn")
    assert no_winner.exit_code == 1 and "no winner yet" in no_winner.output
