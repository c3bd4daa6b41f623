"""``treadle datasets create|list|show|versions|diff|download|alias|delete`` over a real store."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

import treadle as td
from tests.cli.helpers import Invoke, Ok, assert_user_error
from tests.ui.helpers import tiny_png
from treadle.tracking import InputRef


@pytest.fixture
def people(client: td.Client) -> td.Client:
    """``people`` v1 (ids 1-3) and v2 (id 3 gone, 4 added, 1's age changed, new column ``z``); ``prod`` → v1."""
    v1 = pd.DataFrame({"id": [1, 2, 3], "age": [30.0, 40.0, None], "city": ["oslo", "rome", "oslo"]})
    v2 = pd.DataFrame({"id": [1, 2, 4], "age": [31.0, 40.0, 5.0], "city": ["oslo", "rome", "lima"], "z": [1, 1, 1]})
    td.datasets.create("people", v1, description="who lives where", tags={"team": "geo"}, client=client)
    td.datasets.create("people", v2, client=client)
    td.datasets.set_alias("people", "prod", 1, client=client)
    return client


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "imgs"
    (folder / "cats").mkdir(parents=True)
    (folder / "cats" / "red.png").write_bytes(tiny_png())
    (folder / "notes.txt").write_text("two red pixels\n")
    return folder


def rows(text: str) -> dict[str, str]:
    """Table rows by their first cell."""
    found = {}
    for line in text.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃]", line) if c.strip()]
        if len(cells) >= 2:
            found[cells[0]] = line
    return found


def test_help_lists_every_command(ok: Ok) -> None:
    assert "datasets" in ok("--help")
    text = ok("datasets", "--help")
    for command in ("create", "list", "show", "versions", "diff", "download", "alias", "delete"):
        assert re.search(rf"│ {command}\s", text), command


def test_create_from_a_csv_then_unchanged_then_new_version(ok: Ok, tmp_path: Path, client: td.Client) -> None:
    csv = tmp_path / "trips.csv"
    csv.write_text("id,km\n1,2.5\n2,7.0\n")
    text = ok("datasets", "create", "trips", str(csv), "-d", "taxi trips", "--tag", "team=mobility",
              "--tag", "pii=no", "--alias", "prod", "--schema", "infer")  # fmt: skip
    assert "trips v1 created (table, 2 rows" in text and "prod → v1" in text
    v1 = client.datasets.resolve("trips", alias="prod")
    assert v1.version == 1 and v1.num_rows == 2 and v1.pandera_schema  # the inferred schema is kept
    assert client.datasets.get_dataset("trips").tags == {"team": "mobility", "pii": "no"}
    assert "trips v1 unchanged" in ok("datasets", "create", "trips", str(csv))
    csv.write_text("id,km\n1,2.5\n2,7.0\n3,1.0\n")
    assert "trips v2 created (table, 3 rows" in ok("datasets", "create", "trips", str(csv))


def test_create_schema_violation_names_the_column(cli: Invoke, ok: Ok, tmp_path: Path) -> None:
    csv = tmp_path / "t.csv"
    csv.write_text("id,km\n1,2.5\n")
    ok("datasets", "create", "t", str(csv), "--schema", "infer")
    csv.write_text("id,km\n1,far\n")
    assert_user_error(cli("datasets", "create", "t", str(csv), "--schema", "infer"), "km")


def test_create_with_a_pandera_yaml_schema(cli: Invoke, ok: Ok, tmp_path: Path) -> None:
    import pandera.pandas as pdr

    schema = pdr.DataFrameSchema({"id": pdr.Column(int), "km": pdr.Column(float, pdr.Check.ge(0))})
    (tmp_path / "schema.yaml").write_text(schema.to_yaml())
    csv = tmp_path / "t.csv"
    csv.write_text("id,km\n1,2.5\n2,-1.0\n")
    assert_user_error(cli("datasets", "create", "t", str(csv), "--schema", str(tmp_path / "schema.yaml")), "'km'")
    csv.write_text("id,km\n1,2.5\n2,1.0\n")
    assert "t v1 created" in ok("datasets", "create", "t", str(csv), "--schema", str(tmp_path / "schema.yaml"))
    (tmp_path / "bad.yaml").write_text("columns: [unclosed")
    assert_user_error(cli("datasets", "create", "t", str(csv), "--schema", str(tmp_path / "bad.yaml")), "bad.yaml")


def test_create_a_file_collection(ok: Ok, images: Path, client: td.Client) -> None:
    text = ok("datasets", "create", "pics", str(images), "--kind", "files")
    assert "pics v1 created (files, 2 files" in text
    assert [f.path for f in td.datasets.get("pics", client=client).files()] == ["cats/red.png", "notes.txt"]


def test_create_bad_input(cli: Invoke, tmp_path: Path, images: Path) -> None:
    assert_user_error(cli("datasets", "create", "x", str(tmp_path / "missing.csv")), "missing.csv")
    assert_user_error(cli("datasets", "create", "x", str(images), "--tag", "novalue"), "KEY=VALUE")
    assert_user_error(cli("datasets", "create", "x", str(images), "--schema", "nope.yaml"), "--schema")
    assert_user_error(cli("datasets", "create", "bad name", str(images)), "invalid dataset name")
    assert cli("datasets", "create", "x", str(images), "--kind", "video").exit_code == 2


def test_list_and_search(ok: Ok, people: td.Client, images: Path) -> None:
    td.datasets.create("pics", images, tags={"team": "vision"}, client=people)
    table = rows(ok("datasets", "list"))
    assert "v2" in table["people"] and "prod→v1" in table["people"] and "team=geo" in table["people"]
    assert "who lives where" in table["people"] and "pics" in table
    assert list(rows(ok("datasets", "list", "--query", "LIVES"))) == ["name", "people"]
    assert list(rows(ok("datasets", "list", "--tag", "team=vision"))) == ["name", "pics"]
    assert list(rows(ok("datasets", "list", "--column", "city"))) == ["name", "people"]
    assert "No datasets match." in ok("datasets", "list", "--tag", "team=none")


def test_list_empty(ok: Ok) -> None:
    assert "No datasets yet" in ok("datasets", "list")


def test_show_a_table_version(ok: Ok, people: td.Client) -> None:
    run = people.tracking.create_run(people.create_experiment("e").id, name="trainer")
    people.tracking.log_inputs(run.id, [InputRef(uri="datasets:/people/1", name="people")])
    text = ok("datasets", "show", "people", "prod")
    assert "people v1" in text and "datasets:/people/1" in text
    v1 = people.datasets.resolve("people", 1)
    assert v1.digest in text and re.search(r"rows\s+3\b", text) and "latest       v2" in text
    assert "who lives where" in text and "team=geo" in text
    schema = rows(text[text.index("schema (3 columns)") : text.index("statistics")])
    assert "double" in schema["age"] and "int64" in schema["id"]
    stats = rows(text[text.index("statistics") :])
    assert re.search(r"33\.3%.*30.*40.*35", stats["age"])  # nulls, min, max, mean
    assert "oslo (2), rome (1)" in stats["city"]
    assert f"used by runs  {run.id}" in text
    assert "people v2" in ok("datasets", "show", "people")  # latest by default
    assert "people v2" in ok("datasets", "show", "people", "v2")


def test_show_a_file_collection(ok: Ok, images: Path, client: td.Client) -> None:
    td.datasets.create("pics", images, client=client)
    text = ok("datasets", "show", "pics", "1")
    assert "file collection" in text and "files by extension" in text
    assert "cats/red.png" in text and "notes.txt" in text
    assert re.search(r"\.png\s+│\s+1", text)


def test_show_unknown(cli: Invoke, people: td.Client) -> None:
    assert_user_error(cli("datasets", "show", "nope"), "dataset 'nope' does not exist")
    assert_user_error(cli("datasets", "show", "people", "9"), "no version 9")
    assert_user_error(cli("datasets", "show", "people", "staging"), "no alias 'staging'")


def test_versions(ok: Ok, people: td.Client) -> None:
    text = ok("datasets", "versions", "people")
    table = rows(text)
    assert "people: 2 versions" in text
    assert list(table)[1:] == ["v2", "v1"]  # newest first
    assert "prod" in table["v1"] and people.datasets.resolve("people", 2).digest[:8] in table["v2"]


def test_diff_by_key(ok: Ok, people: td.Client) -> None:
    text = ok("datasets", "diff", "people", "prod", "2", "--key", "id")
    assert "people v1 → v2" in text and "by key id" in text
    assert "rows: 3 → 3" in text and "+1 added" in text and "-1 removed" in text and "~1 changed" in text
    assert re.search(r"z\s+│ added\s+│\s+│ int64", text)
    assert re.search(r"age\s+│ min\s+│\s+30 │\s+5 │\s+-25", text)
    added = text[text.index("sample added") : text.index("sample removed")]
    assert re.search(r"4\s+│ 5\s+│ lima", added)
    changed = text[text.index("sample changed") :]
    assert re.search(r"1\s+│ 30\s+│ 31", changed)


def test_diff_without_key_and_bad_key(cli: Invoke, ok: Ok, people: td.Client) -> None:
    text = ok("datasets", "diff", "people", "1", "2")
    assert "rows as a multiset" in text and "+2 added" in text and "-2 removed" in text  # over the common columns
    assert_user_error(cli("datasets", "diff", "people", "1", "2", "--key", "nope"), "nope", "common columns")
    assert_user_error(cli("datasets", "diff", "people", "1", "5"), "no version 5")


def test_download_files_and_parts(ok: Ok, people: td.Client, images: Path, tmp_path: Path) -> None:
    td.datasets.create("pics", images, client=people)
    ok("datasets", "download", "pics", str(tmp_path / "out"))
    assert (tmp_path / "out" / "cats" / "red.png").read_bytes() == tiny_png()
    assert (tmp_path / "out" / "notes.txt").read_text() == "two red pixels\n"
    text = ok("datasets", "download", "people", "prod", str(tmp_path / "parts"))
    assert "Downloaded 1 file" in text
    parts = list((tmp_path / "parts").glob("part-*.parquet"))
    assert len(parts) == 1 and pq.read_table(parts[0]).column("id").to_pylist() == [1, 2, 3]


def test_download_a_table_as_one_file(ok: Ok, people: td.Client, tmp_path: Path) -> None:
    target = tmp_path / "people.csv"
    assert "Wrote 3 rows of datasets:/people/2" in ok("datasets", "download", "people", str(target), "--format", "csv")
    assert pd.read_csv(target).to_dict("list") == {"id": [1, 2, 4], "age": [31.0, 40.0, 5.0],
                                                    "city": ["oslo", "rome", "lima"], "z": [1, 1, 1]}  # fmt: skip
    ok("datasets", "download", "people", "1", str(tmp_path / "exports") + "/", "-f", "parquet")
    written = pq.read_table(tmp_path / "exports" / "people-v1.parquet")
    assert written.num_rows == 3 and written.column_names == ["id", "age", "city"]


def test_download_bad_input(cli: Invoke, people: td.Client, images: Path, tmp_path: Path) -> None:
    td.datasets.create("pics", images, client=people)
    assert_user_error(
        cli("datasets", "download", "pics", str(tmp_path / "x.csv"), "--format", "csv"), "file collection"
    )
    (tmp_path / "afile").write_text("x")
    assert_user_error(cli("datasets", "download", "pics", str(tmp_path / "afile")), "not a folder")
    assert_user_error(cli("datasets", "download", "pics", "1", "a", "b"), "[VERSION] DEST")
    assert_user_error(cli("datasets", "download", "pics", "7", str(tmp_path / "o")), "no version 7")


def test_alias(cli: Invoke, ok: Ok, people: td.Client) -> None:
    assert "people@prod → v2" in ok("datasets", "alias", "people", "prod", "2")
    assert people.datasets.resolve("people", alias="prod").version == 2
    assert "Deleted alias prod" in ok("datasets", "alias", "people", "prod", "--delete")
    assert people.datasets.get_dataset("people").aliases == {}
    assert_user_error(cli("datasets", "alias", "people", "prod", "9"), "no version 9")
    assert_user_error(cli("datasets", "alias", "people", "Prod", "1"), "invalid alias")
    assert_user_error(cli("datasets", "alias", "people", "latest", "1"), "reserved")
    assert_user_error(cli("datasets", "alias", "people", "prod"), "VERSION")


def test_delete(cli: Invoke, ok: Ok, people: td.Client) -> None:
    result = cli("datasets", "delete", "people", input="n\n")
    assert result.exit_code == 1 and "Aborted" in result.output
    assert people.datasets.get_dataset("people").latest_version == 2
    text = ok("datasets", "delete", "people", "--yes")
    assert "Deleted dataset people and its 2 versions" in text and "unreferenced blob" in text
    assert_user_error(cli("datasets", "show", "people"), "does not exist")
    assert_user_error(cli("datasets", "delete", "people", "--yes"), "does not exist")
