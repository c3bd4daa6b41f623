"""Where a workspace keeps its data: URI mapping, its own SQLite file / PostgreSQL schema, its own
blob root (which the main store's gc never lists, so never deletes)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote_plus

import pytest
from sqlalchemy import inspect, text
from typer.testing import CliRunner

from tests.conftest import fresh_pg_database
from treadle import Client
from treadle.client._backend import local_backend, reset_backends
from treadle.errors import InvalidArgument, NotFound
from treadle.store import (
    Store,
    check_workspace,
    main_uri,
    pg_schema,
    workspace_artifacts,
    workspace_of,
    workspace_online_store,
    workspace_uri,
)

MAINS = [
    ("sqlite:///rel/treadle.db", "sqlite:///rel/.workspaces/team-a/treadle.db"),
    ("sqlite:///treadle.db", "sqlite:///.workspaces/team-a/treadle.db"),
    ("sqlite:////abs/dir/x.db", "sqlite:////abs/dir/.workspaces/team-a/x.db"),
    (
        "postgresql+psycopg://u:p%40ss@db.example:5432/treadle",
        "postgresql+psycopg://u:p%40ss@db.example:5432/treadle?options=-csearch_path%3Dws_team_a",
    ),
    ("http://host:5000", "http://host:5000/w/team-a"),
    ("https://host/", "https://host/w/team-a"),
]


@pytest.mark.parametrize(("main", "scoped"), MAINS)
def test_workspace_uri_round_trip(main: str, scoped: str) -> None:
    assert workspace_uri(main, "team-a") == scoped
    assert workspace_of(scoped) == "team-a"
    assert workspace_of(main) == "default"
    assert main_uri(scoped) == main.rstrip("/")
    assert main_uri(main) == main
    assert workspace_uri(scoped, "team-a") == scoped  # idempotent
    assert workspace_uri(main, "default") == main
    with pytest.raises(InvalidArgument, match="already"):
        workspace_uri(scoped, "team-b")


def test_postgres_keeps_other_query_options() -> None:
    main = "postgresql+psycopg://h/db?sslmode=require"
    scoped = workspace_uri(main, "ml-2")
    assert "sslmode=require" in scoped and workspace_of(scoped) == "ml-2"
    assert main_uri(scoped) == main
    assert pg_schema("ml-2") == "ws_ml_2"


@pytest.mark.parametrize("name", ["", "Team", "1team", "team_a", "team.a", "a/b", "x" * 64, "-a", "ws a"])
def test_invalid_workspace_names(name: str) -> None:
    with pytest.raises(InvalidArgument, match="workspace name"):
        check_workspace(name)
    with pytest.raises(InvalidArgument):
        workspace_uri("sqlite:///x.db", name)
    with pytest.raises(InvalidArgument):
        workspace_artifacts("/root", name)
    with pytest.raises(InvalidArgument):
        workspace_online_store("redis://localhost", name)


def test_longest_valid_name() -> None:
    name = "a" + "0" * 62
    assert workspace_of(workspace_uri("sqlite:///x.db", name)) == name
    assert workspace_of(workspace_uri("postgresql+psycopg://h/db", name)) == name
    assert workspace_of(workspace_uri("http://h", name)) == name


def test_workspace_artifacts() -> None:
    assert workspace_artifacts("/srv/art", "team-a") == "/srv/art/.workspaces/team-a"
    assert workspace_artifacts("/srv/art/", "team-a") == "/srv/art/.workspaces/team-a"
    assert workspace_artifacts("s3://bucket/art", "team-a") == "s3://bucket/art/.workspaces/team-a"
    assert workspace_artifacts("/srv/art/.workspaces/team-a", "team-a") == "/srv/art/.workspaces/team-a"
    assert workspace_artifacts("/srv/art", "default") == "/srv/art"


def test_workspace_online_store() -> None:
    assert workspace_online_store("sqlite:///d/online.db", "team-a") == "sqlite:///d/.workspaces/team-a/online.db"
    redis = workspace_online_store("redis://localhost:6379/0", "team-a")
    assert redis == "redis://localhost:6379/0?prefix=ws%3Ateam-a%3A"
    assert workspace_online_store(redis, "team-a") == redis  # idempotent
    prefixed = workspace_online_store("redis://h/0?prefix=feat:&ssl=true", "team-a")
    assert "prefix=feat%3Aws%3Ateam-a%3A" in prefixed and "ssl=true" in prefixed
    assert workspace_online_store("redis://h/0", "default") == "redis://h/0"
    assert workspace_online_store(workspace_online_store("redis://h/0", "team-a"), "team-b") != redis


# --- real stores ------------------------------------------------------------------------------
@pytest.fixture
def fresh_pg() -> Iterator[str]:
    """A PostgreSQL database of this test's own (so 'public' holds only the main store)."""
    with fresh_pg_database("treadle_ws") as url:
        yield url


def test_postgres_workspace_is_its_own_schema(fresh_pg: str, tmp_path: Path) -> None:
    main = Client(uri=fresh_pg, artifacts=str(tmp_path / "art"))
    main.access.create_workspace("team-a")
    team = Client(uri=fresh_pg, artifacts=str(tmp_path / "art"), workspace="team-a")
    assert team.workspace == "team-a" and team.uri == workspace_uri(fresh_pg, "team-a")
    exp = team.create_experiment("only-in-team-a")
    main.create_experiment("only-in-main")
    store = Store(fresh_pg)
    try:
        with store.read() as conn:
            schemas = set(inspect(conn).get_schema_names())
            assert "ws_team_a" in schemas
            assert {"experiments", "runs", "registered_models"} <= set(inspect(conn).get_table_names("ws_team_a"))
            in_ws = conn.execute(text("SELECT name FROM ws_team_a.experiments")).scalars().all()
            in_public = conn.execute(text("SELECT name FROM public.experiments")).scalars().all()
    finally:
        store.dispose()
    assert "only-in-team-a" in in_ws and "only-in-main" not in in_ws
    assert "only-in-main" in in_public and "only-in-team-a" not in in_public
    assert team.tracking.get_experiment(exp.id).name == "only-in-team-a"
    team_names = {e.name for e in team.tracking.list_experiments()}
    assert "only-in-team-a" in team_names and "only-in-main" not in team_names
    assert "only-in-team-a" not in {e.name for e in main.tracking.list_experiments()}


def test_sqlite_workspace_is_its_own_file(tmp_path: Path) -> None:
    main_db = tmp_path / "treadle.db"
    main = Client(uri=f"sqlite:///{main_db}", artifacts=str(tmp_path / "art"))
    main.access.create_workspace("team-a")
    ws_db = tmp_path / ".workspaces" / "team-a" / "treadle.db"
    assert ws_db.is_file()
    team = Client(uri=f"sqlite:///{main_db}", artifacts=str(tmp_path / "art"), workspace="team-a")
    assert team.uri == f"sqlite:///{ws_db}" and team.artifacts_root == str(tmp_path / "art" / ".workspaces" / "team-a")
    team.create_experiment("same-name")
    main.create_experiment("same-name")  # the same name in two workspaces: two experiments
    assert [e.name for e in team.tracking.list_experiments() if e.name == "same-name"] == ["same-name"]
    assert team.access.workspace_names() == ["default", "team-a"]  # the control plane is the main store's


def test_unknown_workspace_is_not_found(tmp_path: Path) -> None:
    Client(uri=f"sqlite:///{tmp_path / 'treadle.db'}", artifacts=str(tmp_path / "art"))
    with pytest.raises(NotFound, match="no workspace 'ghost'"):
        local_backend(workspace_uri(f"sqlite:///{tmp_path / 'treadle.db'}", "ghost"), str(tmp_path / "art"))
    assert not (tmp_path / ".workspaces" / "ghost").exists()  # no store was made for it


def test_main_gc_never_lists_or_deletes_workspace_blobs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    uri, art = f"sqlite:///{tmp_path / 'treadle.db'}", str(tmp_path / "art")
    main = Client(uri=uri, artifacts=art)
    main.access.create_workspace("team-a")
    team = Client(uri=uri, artifacts=art, workspace="team-a")
    run = team.tracking.create_run(team.create_experiment("e").id)
    logged = team.log_bytes(run.id, b"team-a's weights", "model.bin")
    stray = team.blobs.put_bytes(b"an unreferenced blob of team-a").digest
    blob_path = tmp_path / "art" / ".workspaces" / "team-a" / logged.digest[:2] / logged.digest[2:4] / logged.digest
    assert blob_path.is_file()
    main_orphan = main.blobs.put_bytes(b"an unreferenced blob of the main store").digest

    listed = {digest for digest, _ in main.blobs.list()}
    assert main_orphan in listed
    assert logged.digest not in listed and stray not in listed
    report = main.gc(dry_run=False, grace_s=0)
    assert report.unreferenced == [main_orphan]
    assert blob_path.is_file() and team.blobs.exists(stray)
    assert not main.blobs.exists(main_orphan)
    # the CLI's `treadle gc --delete` on the main store agrees
    monkeypatch.setenv("TREADLE_URI", uri)
    monkeypatch.setenv("TREADLE_ARTIFACTS", art)
    reset_backends()
    from treadle.cli import app

    result = CliRunner().invoke(app, ["gc", "--delete", "--grace", "0"])
    assert result.exit_code == 0, result.output
    assert blob_path.is_file() and team.blobs.exists(stray)
    assert team.read_artifact(run.id, "model.bin") == b"team-a's weights"
    # a workspace's own gc sees its blobs only, and deletes its orphan only
    team_report = team.gc(dry_run=False, grace_s=0)
    assert team_report.unreferenced == [stray]
    assert blob_path.is_file()


def test_postgres_options_of_the_main_store_are_kept() -> None:
    main = "postgresql+psycopg://h/db?options=-csearch_path%3Dtreadle&sslmode=require"
    scoped = workspace_uri(main, "team-a")
    assert workspace_of(scoped) == "team-a"
    assert main_uri(scoped) == main  # the control plane stays in the main store's own schema
    timeout = workspace_uri("postgresql+psycopg://h/db?options=-c%20statement_timeout%3D5000", "team-a")
    assert "statement_timeout" in unquote_plus(timeout) and "search_path=ws_team_a" in unquote_plus(timeout)
    assert "statement_timeout" in unquote_plus(main_uri(timeout))
    assert "ws_team_a" not in main_uri(timeout)


def test_postgres_main_store_in_its_own_schema(fresh_pg: str, tmp_path: Path) -> None:
    """A main store kept in a schema of its choosing (search_path) finds its workspaces from theirs."""
    setup = Store(fresh_pg, check_schema=False)
    with setup.write() as conn:
        conn.execute(text("CREATE SCHEMA mlops"))
    setup.dispose()
    main_url = fresh_pg + "?options=-csearch_path%3Dmlops"
    main = Client(uri=main_url, artifacts=str(tmp_path / "art"))
    main.access.create_workspace("team-a")
    main.create_experiment("in-main")
    team = Client(uri=main_url, artifacts=str(tmp_path / "art"), workspace="team-a")
    team.create_experiment("in-team-a")
    assert team.access.workspace_names() == ["default", "team-a"]  # its control plane: the mlops schema
    store = Store(fresh_pg, check_schema=False)
    try:
        with store.read() as conn:
            assert conn.execute(text("SELECT name FROM mlops.experiments")).scalars().all().count("in-main") == 1
            assert "in-team-a" in conn.execute(text("SELECT name FROM ws_team_a.experiments")).scalars().all()
            assert "experiments" not in inspect(conn).get_table_names("public")
    finally:
        store.dispose()


def test_a_plain_folder_named_workspaces_is_not_a_workspace() -> None:
    # Users keep projects in ~/workspaces/...: only treadle's own hidden folder marks a workspace store.
    uri = "sqlite:////home/u/workspaces/proj/treadle.db"
    assert workspace_of(uri) == "default" and main_uri(uri) == uri
    assert workspace_uri(uri, "team-a") == "sqlite:////home/u/workspaces/proj/.workspaces/team-a/treadle.db"
