"""Definitions loaded from a folder of Python files, and ``treadle features`` on the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from treadle.cli._app import app
from treadle.errors import InvalidArgument
from treadle.features import Entity, OnDemandFeatureView
from treadle.features._repo import load_definitions

T0 = datetime(2024, 7, 1, tzinfo=UTC)
ENTITIES = """
from treadle.features import Entity

driver = Entity("driver", ["driver_id"], description="a driver")
"""
VIEWS = """
from datetime import timedelta

import pandas as pd
from entities import driver
from helpers import scale

from treadle.data import FileSource
from treadle.features import FeatureView, Field, OnDemandFeatureView, RequestSource

stats = FeatureView(
    "stats", [driver], FileSource(r"{path}"), [Field("trips", "int64")], ttl=timedelta(hours={ttl})
)


def scaled(df: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({{"scaled": scale(df["trips"], df["factor"])}})


scaled_view = OnDemandFeatureView(
    "scaled", [stats, RequestSource("req", [Field("factor", "float64")])], scaled, [Field("scaled", "float64")]
)
"""
HELPERS = """
def scale(trips, factor):
    return trips * factor
"""


def write_repo(root: Path, data: Path, ttl: int = 1) -> Path:
    repo = root / "repo"
    (repo / "tests").mkdir(parents=True, exist_ok=True)
    (repo / "entities.py").write_text(ENTITIES)
    (repo / "views.py").write_text(VIEWS.format(path=data, ttl=ttl))
    (repo / "helpers.py").write_text(HELPERS)
    (repo / "_private.py").write_text("raise RuntimeError('never imported')\n")
    (repo / "tests" / "test_x.py").write_text("raise RuntimeError('never imported')\n")
    return repo


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "history.parquet"
    table = pa.table(
        {
            "driver_id": [1, 2],
            "event_timestamp": pa.array([T0, T0], pa.timestamp("us", tz="UTC")),
            "trips": [4, 7],
        }
    )
    pq.write_table(table, path)
    return path


def test_load_definitions_from_a_folder(tmp_path: Path, data: Path) -> None:
    repo = write_repo(tmp_path, data)
    defs = load_definitions(repo)
    assert [(type(d).__name__, d.name) for d in defs] == [
        ("Entity", "driver"),
        ("FeatureView", "stats"),
        ("OnDemandFeatureView", "scaled"),
    ]
    odfv = defs[2]
    assert isinstance(odfv, OnDemandFeatureView)
    spec = json.dumps(odfv.spec())
    # the transform (and the helper module beside it) travel by value: another process without the
    # folder on its path runs it
    code = (
        "import json, sys; from treadle.features import OnDemandFeatureView; "
        "v = OnDemandFeatureView.from_spec(json.loads(sys.stdin.read())); "
        "print(v.transform_row({'trips': 3, 'factor': 2.0}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], input=spec, capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "{'scaled': 6.0}"
    # an edited helper module is imported afresh by the next load
    (repo / "entities.py").write_text(ENTITIES.replace('["driver_id"]', '["id"]'))
    again = load_definitions(repo)
    assert isinstance(again[0], Entity) and again[0].join_keys == ("id",)


def test_load_problems_name_the_file_and_line(tmp_path: Path, data: Path) -> None:
    with pytest.raises(InvalidArgument, match="does not exist"):
        load_definitions(tmp_path / "missing")
    bad = tmp_path / "bad.py"
    bad.write_text("x = 1\ny = (\n")
    with pytest.raises(InvalidArgument, match=r"bad.py:2: syntax error"):
        load_definitions(bad)
    bad.write_text("x = 1\nraise ValueError('no data')\n")
    with pytest.raises(InvalidArgument, match=r"bad.py:2: importing the definitions failed: ValueError: no data"):
        load_definitions(bad)
    clash = tmp_path / "clash"
    clash.mkdir()
    (clash / "a.py").write_text("from treadle.features import Entity\ne = Entity('driver', ['id'])\n")
    (clash / "b.py").write_text("from treadle.features import Entity\ne = Entity('driver', ['driver_id'])\n")
    with pytest.raises(InvalidArgument, match=r"'driver' is defined differently in .*a\.py and .*b\.py"):
        load_definitions(clash)


def test_cli_apply_list_show_training_frame(tmp_path: Path, data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TREADLE_ONLINE_STORE", f"sqlite:///{tmp_path / 'online.db'}")
    monkeypatch.setenv("COLUMNS", "200")
    repo = write_repo(tmp_path, data)
    runner = CliRunner()
    dry = runner.invoke(app, ["features", "apply", str(repo), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "Dry run" in dry.output and "would be created" in dry.output
    empty = runner.invoke(app, ["features", "list"])
    assert "No feature definitions yet" in empty.output
    first = runner.invoke(app, ["features", "apply", str(repo)])
    assert first.exit_code == 0, first.output
    assert first.output.count("created") == 3
    write_repo(tmp_path, data, ttl=2)
    second = runner.invoke(app, ["features", "apply", str(repo)])
    assert second.exit_code == 0, second.output
    assert "updated" in second.output and "ttl_seconds: 3600.0 → 7200.0" in second.output
    listed = runner.invoke(app, ["features", "list"])
    assert "driver_id" in listed.output and "scaled (on demand)" in listed.output and "v2" in listed.output
    shown = runner.invoke(app, ["features", "show", "stats"])
    assert shown.exit_code == 0 and "7200 s" in shown.output and "v1" in shown.output and "trips" in shown.output
    old = runner.invoke(app, ["features", "show", "stats", "--version", "1"])
    assert "3600 s" in old.output
    missing = runner.invoke(app, ["features", "show", "nope"])
    assert missing.exit_code == 1 and "'nope' is not registered" in missing.output
    entities = tmp_path / "entities.parquet"
    ts = pd.to_datetime([T0 + timedelta(minutes=5), T0 - timedelta(minutes=5)], utc=True)
    pd.DataFrame({"driver_id": [2, 1], "event_timestamp": ts, "factor": [0.5, 1.0]}).to_parquet(entities)
    out = tmp_path / "frame.parquet"
    made = runner.invoke(
        app,
        ["features", "training-frame", str(entities), "-f", "stats:trips", "-f", "scaled:scaled", "-o", str(out)],
    )
    assert made.exit_code == 0, made.output
    frame = pq.read_table(out).to_pydict()
    assert frame["trips"] == [7, None] and frame["scaled"] == [3.5, None]


def test_cli_delete_and_materialize(tmp_path: Path, data: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TREADLE_ONLINE_STORE", f"sqlite:///{tmp_path / 'online.db'}")
    monkeypatch.setenv("COLUMNS", "200")
    runner = CliRunner()
    assert runner.invoke(app, ["features", "apply", str(write_repo(tmp_path, data))]).exit_code == 0
    done = runner.invoke(app, ["features", "materialize", "stats", "--full"])
    assert done.exit_code == 0, done.output
    assert "stats" in done.output and "full" in done.output
    bad = runner.invoke(app, ["features", "materialize", "--start", "2024-01-01"])
    assert bad.exit_code == 1 and "has no time zone" in bad.output
    refused = runner.invoke(app, ["features", "delete", "stats", "--yes"])
    assert refused.exit_code == 1 and "read by on-demand views" in refused.output
    assert runner.invoke(app, ["features", "delete", "scaled", "--yes"]).exit_code == 0
    gone = runner.invoke(app, ["features", "delete", "stats", "--yes"])
    assert gone.exit_code == 0 and "Deleted stats (1 version)" in gone.output
