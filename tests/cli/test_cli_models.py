"""``treadle models list|show|versions|alias|approve|download|delete`` (``env`` in test_cli_models_env)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

import treadle as td
from tests.cli.helpers import Invoke, Ok, assert_user_error
from treadle.tracking import InputRef, Metric

MANIFEST = """\
flavor: sklearn
python_version: 3.11.7
requirements: [scikit-learn==1.5.0, numpy==2.0.0]
signature:
  inputs: {kind: columns, specs: [{name: tenure, dtype: float64, shape: null}, {name: plan, dtype: string}]}
  outputs: {kind: tensors, specs: [{name: null, dtype: int64, shape: [-1]}]}
"""


@dataclass(frozen=True)
class Registered:
    run: str  # the run every version of ``churn`` and ``fraud`` came from


@pytest.fixture
def registered(client: td.Client) -> Registered:
    """``churn`` v1-v3 (champion v1 -> v2 by ana/bo, challenger v3; v2 approved) and ``fraud`` v1."""
    exp = client.create_experiment("training")
    run = client.tracking.create_run(exp.id, name="trainer")
    client.log_batch(run.id, metrics=[Metric(key="auc", value=0.91, step=0)], params={"depth": 4})
    client.tracking.log_inputs(run.id, [InputRef(uri="s3://data/churn.parquet", name="churn-train")])
    client.log_text(run.id, MANIFEST, "model/treadle-model.yaml")
    client.log_bytes(run.id, b"weights-bytes", "model/model.pkl")
    registry = client.registry
    registry.create_model("churn", description="who leaves next", owner="ana", tags={"team": "growth"})
    for _ in range(3):
        registry.create_version("churn", f"runs:/{run.id}/model", created_by="ana")
    registry.set_alias("churn", "champion", 1, actor="ana", reason="first good model")
    registry.set_alias("churn", "champion", 2, actor="bo", reason="v2 wins the A/B")
    registry.set_alias("churn", "challenger", 3, actor="bo")
    registry.approve_version("churn", 2, actor="lead", reason="passed review")
    registry.create_version("fraud", f"runs:/{run.id}/model")
    return Registered(run.id)


def rows(text: str) -> dict[str, str]:
    """Table rows by their first cell."""
    found = {}
    for line in text.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃]", line) if c.strip()]
        if len(cells) >= 2:
            found[cells[0]] = line
    return found


def test_help_lists_every_models_command(ok: Ok) -> None:
    assert "models" in ok("--help")
    text = ok("models", "--help")
    for command in ("list", "show", "versions", "alias", "approve", "download", "env", "delete"):
        assert command in text, command


def test_list(ok: Ok, registered: Registered, client: td.Client) -> None:
    text = ok("models", "list")
    table = rows(text)
    assert "2 models" in text
    assert "v3" in table["churn"] and "challenger→v3, champion→v2" in table["churn"] and "who leaves next" in text
    assert "v1" in table["fraud"]
    only = ok("models", "list", "--name", "fr%")
    assert "fraud" in only and "churn" not in only
    assert "No registered models match." in ok("models", "list", "--name", "zzz%")
    client.registry.archive_model("fraud")
    assert "fraud" not in ok("models", "list")
    assert "fraud (archived)" in ok("models", "list", "--archived")


def test_list_when_empty(ok: Ok) -> None:
    assert "No models registered yet" in ok("models", "list")


def test_show_model_has_aliases_with_history_and_versions(ok: Ok, registered: Registered) -> None:
    text = ok("models", "show", "churn")
    for expected in ("churn", "who leaves next", "ana", "team=growth", "latest", "v3"):
        assert expected in text, expected
    champion = text[text.index("champion → v2") :]
    assert re.search(r"ana\s+set → v1\s+“first good model”", champion)
    assert re.search(r"bo\s+v1 → v2\s+“v2 wins the A/B”", champion)
    assert "challenger → v3" in text
    versions = rows(text[text.index("versions (3)") :])
    assert "approved by lead" in versions["v2"] and "champion" in versions["v2"]
    assert "pending" in versions["v1"] and "sklearn" in versions["v1"] and registered.run[:8] in versions["v1"]


def test_show_version_has_signature_requirements_metrics_and_lineage(ok: Ok, registered: Registered) -> None:
    text = ok("models", "show", "churn", "--version", "2")
    for expected in (
        "churn v2",
        "models:/churn/2",
        "approved by lead (passed review)",
        "champion",
        f"runs:/{registered.run}/model",
        registered.run,
        "by ana",
        "3.11.7",
        "scikit-learn==1.5.0",
        "numpy==2.0.0",
        "s3://data/churn.parquet",
        "churn-train",
        "model.pkl",
        "treadle-model.yaml",
    ):
        assert expected in text, expected
    assert re.search(r"input\s+│\s+tenure\s+│\s+float64", text)
    assert re.search(r"output\s+│\s+\(unnamed\)\s+│\s+int64\s+│\s+\(-1\)", text)
    metrics = text[text.index("run metrics") :]
    assert re.search(r"auc\s+│\s+0\.91", metrics)


def test_show_errors(cli: Invoke, registered: Registered) -> None:
    assert_user_error(cli("models", "show", "nope"), "registered model 'nope' does not exist")
    assert_user_error(cli("models", "show", "churn", "--version", "9"), "has no version 9")
    assert cli("models", "show", "churn", "--version", "0").exit_code == 2


def test_versions(ok: Ok, cli: Invoke, registered: Registered, client: td.Client) -> None:
    text = ok("models", "versions", "churn")
    table = rows(text)
    assert "churn: 3 versions" in text
    assert list(table)[-3:] == ["v3", "v2", "v1"]  # newest first
    assert "challenger" in table["v3"] and "approved by lead" in table["v2"]
    approved = ok("models", "versions", "churn", "--approval", "approved")
    assert "v2" in approved and "v1" not in rows(approved) and "v3" not in rows(approved)
    assert "has no rejected versions" in ok("models", "versions", "churn", "--approval", "rejected")
    client.registry.archive_version("churn", 1)
    assert "v1" not in rows(ok("models", "versions", "churn"))
    assert "v1 (archived)" in ok("models", "versions", "churn", "--archived")
    assert_user_error(cli("models", "versions", "nope"), "'nope' does not exist")
    assert cli("models", "versions", "churn", "--approval", "maybe").exit_code == 2


def test_alias_set_move_delete_and_history(ok: Ok, registered: Registered, client: td.Client) -> None:
    assert "churn@champion → v3" in ok("models", "alias", "churn", "champion", "3", "--reason", "v3 is better")
    assert client.registry.get_version_by_alias("churn", "champion").version == 3
    history = ok("models", "alias", "churn", "champion", "--history")
    lines = [line for line in history.splitlines() if "→" in line][1:]  # under the "champion → v3" label
    assert [re.search(r"(set|v\d) → v\d", line).group(0) for line in lines] == ["set → v1", "v1 → v2", "v2 → v3"]  # type: ignore[union-attr]
    assert "v3 is better" in lines[-1]
    assert history.splitlines()[0].startswith("champion → v3")
    assert "Deleted alias challenger" in ok("models", "alias", "churn", "challenger", "--delete", "--reason", "done")
    gone = ok("models", "alias", "churn", "challenger", "--history")
    assert "v3 → deleted" in gone and "done" in gone
    moves = client.registry.get_alias_history("churn", "challenger")
    assert moves[-1].to_version is None and moves[-1].reason == "done" and moves[-1].actor  # the OS user
    assert "never been set" in ok("models", "alias", "churn", "staging", "--history")


def test_protected_alias(ok: Ok, cli: Invoke, registered: Registered, client: td.Client) -> None:
    refused = cli("models", "alias", "churn", "production", "3", "--protect")
    assert_user_error(refused, "v3 of churn is pending", "approve it")
    assert client.registry.list_aliases("churn")[-1].alias != "production"  # nothing half-done
    text = ok("models", "alias", "churn", "production", "2", "--protect", "--reason", "go live")
    assert "churn@production → v2" in text and "is protected" in text
    assert_user_error(cli("models", "alias", "churn", "production", "3"), "protected", "approve it first")
    assert "v3: approved" in ok("models", "approve", "churn", "3")
    assert "churn@production → v3 (protected)" in ok("models", "alias", "churn", "production", "3")
    assert "no longer protected" in ok("models", "alias", "churn", "production", "--unprotect")
    assert "churn@production → v1" in ok("models", "alias", "churn", "production", "1")


def test_alias_errors(cli: Invoke, registered: Registered) -> None:
    assert_user_error(cli("models", "alias", "churn", "champion"), "give a VERSION")
    assert_user_error(cli("models", "alias", "churn", "champion", "1", "--delete"), "--delete takes no VERSION")
    assert_user_error(cli("models", "alias", "churn", "Champion", "1"), "invalid alias 'Champion'")
    assert_user_error(cli("models", "alias", "churn", "latest", "1"), "reserved")
    assert_user_error(cli("models", "alias", "churn", "champion", "9"), "has no version 9")
    assert_user_error(cli("models", "alias", "churn", "nothing", "--delete"), "has no alias 'nothing'")
    assert_user_error(cli("models", "alias", "nope", "champion", "1"), "'nope' does not exist")
    assert cli("models", "alias", "churn", "champion", "zero").exit_code == 2


def test_approve_and_reject(ok: Ok, cli: Invoke, registered: Registered, client: td.Client) -> None:
    approved = ok("models", "approve", "churn", "1", "-r", "looks good")
    assert re.search(r"churn v1: approved by \S+ \(looks good\)", approved)
    text = ok("models", "approve", "churn", "3", "--reject", "--reason", "worse on slice A")
    assert "churn v3: rejected" in text and "worse on slice A" in text
    v3 = client.registry.get_version("churn", 3)
    assert (v3.approval, v3.approval_reason) == ("rejected", "worse on slice A") and v3.approval_by
    client.registry.protect_alias("churn", "champion")
    assert_user_error(cli("models", "approve", "churn", "2", "--reject"), "holds protected aliases champion")
    assert_user_error(cli("models", "approve", "churn", "7"), "has no version 7")


def test_download_by_alias_and_version(ok: Ok, registered: Registered, tmp_path: Path) -> None:
    dst = tmp_path / "dl"
    assert "Downloaded 2 files" in ok("models", "download", "models:/churn@champion", "--dst", str(dst))
    assert sorted(p.name for p in dst.iterdir()) == ["model.pkl", "treadle-model.yaml"]  # no cache marker
    assert (dst / "model.pkl").read_bytes() == b"weights-bytes"
    again = ok("models", "download", f"runs:/{registered.run}/model", "--dst", str(tmp_path / "run"))
    assert "Downloaded 2 files" in again and (tmp_path / "run" / "treadle-model.yaml").read_text() == MANIFEST


def test_download_errors(cli: Invoke, registered: Registered, tmp_path: Path) -> None:
    dst = str(tmp_path / "x")
    assert_user_error(cli("models", "download", "models:/churn@nope", "--dst", dst), "has no alias 'nope'")
    assert_user_error(cli("models", "download", "models:/churn/9", "--dst", dst), "has no version 9")
    assert_user_error(cli("models", "download", "runs:/abc/model", "--dst", dst), "bad runs URI")
    assert_user_error(cli("models", "download", str(tmp_path / "missing"), "--dst", dst), "no model folder")
    (tmp_path / "file").write_text("x")
    assert_user_error(cli("models", "download", "models:/churn/1", "--dst", str(tmp_path / "file")), "not a folder")
    assert cli("models", "download", "models:/churn/1").exit_code == 2  # --dst is required
    assert not (tmp_path / "x").exists()


def test_delete_version_then_model(ok: Ok, cli: Invoke, registered: Registered, client: td.Client) -> None:
    assert_user_error(cli("models", "delete", "churn", "--version", "2", "--yes"), "holds aliases champion")
    aborted = cli("models", "delete", "churn", "--version", "1", input="n\n")
    assert aborted.exit_code == 1 and "Permanently delete churn v1?" in aborted.output
    assert client.registry.get_version("churn", 1).version == 1
    assert "Deleted churn v1 (v1)" in ok("models", "delete", "churn", "--version", "1", input="y\n")
    text = ok("models", "delete", "churn", "--yes")
    assert "Deleted model churn and its 2 versions (v2, v3)" in text
    assert "0 unreferenced blobs" in text  # the run still holds the files
    assert_user_error(cli("models", "show", "churn"), "does not exist")
    assert_user_error(cli("models", "delete", "churn", "--yes"), "does not exist")
    assert_user_error(cli("models", "delete", "fraud", "--version", "4", "--yes"), "has no version 4")
    assert client.registry.get_model("fraud").latest_version == 1
