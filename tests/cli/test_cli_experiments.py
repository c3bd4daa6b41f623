"""``treadle experiments``."""

from __future__ import annotations

import treadle as td
from tests.cli.helpers import Invoke, Ok, assert_user_error


def test_list_empty_then_created(ok: Ok) -> None:
    assert "No active experiments." in ok("experiments", "list")
    assert "Created experiment" in ok("experiments", "create", "alpha", "-d", "the first", "-t", "team=vision")
    text = ok("experiments", "list")
    assert "alpha" in text and "the first" in text and "team=vision" in text


def test_create_records_description_and_tags(ok: Ok, client: td.Client) -> None:
    ok("experiments", "create", "beta", "--description", "why", "--tag", "a=1", "--tag", "b=x=y")
    exp = client.tracking.get_experiment_by_name("beta")
    assert exp.description == "why"
    assert exp.tags == {"a": "1", "b": "x=y"}


def test_create_duplicate_is_a_user_error(ok: Ok, cli: Invoke) -> None:
    ok("experiments", "create", "dup")
    assert_user_error(cli("experiments", "create", "dup"), "already exists")


def test_create_with_a_malformed_tag_is_a_usage_error(cli: Invoke, client: td.Client) -> None:
    result = cli("experiments", "create", "gamma", "--tag", "novalue")
    assert result.exit_code == 2 and "KEY=VALUE" in result.output
    assert client.tracking.list_experiments() == []


def test_delete_and_restore_by_name_or_id(ok: Ok, client: td.Client) -> None:
    exp = client.create_experiment("doomed")
    assert "Deleted experiment" in ok("experiments", "delete", "doomed")
    assert client.tracking.get_experiment(exp.id).lifecycle == "deleted"
    assert "doomed" not in ok("experiments", "list")
    deleted = ok("experiments", "list", "--view", "deleted")
    assert "doomed" in deleted and "deleted" in deleted
    ok("experiments", "restore", exp.id)
    assert client.tracking.get_experiment(exp.id).lifecycle == "active"
    assert "doomed" in ok("experiments", "list")


def test_rename(ok: Ok, cli: Invoke, client: td.Client) -> None:
    exp = client.create_experiment("old")
    client.create_experiment("taken")
    assert "from old to new" in ok("experiments", "rename", exp.id, "new")
    assert client.tracking.get_experiment(exp.id).name == "new"
    assert_user_error(cli("experiments", "rename", "new", "taken"), "already exists")


def test_unknown_experiment_is_a_user_error(cli: Invoke) -> None:
    for command in ("delete", "restore"):
        assert_user_error(cli("experiments", command, "nope"), "no experiment with id or name 'nope'")
    assert_user_error(cli("experiments", "delete", "4242"), "4242")
    assert_user_error(cli("experiments", "rename", "nope", "x"), "nope")


def test_numeric_names_resolve_when_no_id_matches(ok: Ok, client: td.Client) -> None:
    exp = client.create_experiment("2024")
    ok("experiments", "delete", "2024")
    assert client.tracking.get_experiment(exp.id).lifecycle == "deleted"
