"""``treadle runs list|delete|restore|purge``."""

from __future__ import annotations

import pytest

import treadle as td
from tests.cli.conftest import Seeded
from tests.cli.helpers import Invoke, Ok, assert_user_error
from treadle.errors import NotFound


def ids(text: str) -> list[str]:
    return text.split()


def test_list_shows_every_active_run(ok: Ok, seeded: Seeded) -> None:
    text = ok("runs", "list")
    for run_id in (seeded.fast, seeded.slow, seeded.child, seeded.other):
        assert run_id in text
    assert "4 runs" in text and "exp-a" in text and "exp-b" in text
    assert "↳ fast-child" in text  # nested runs are marked
    assert "acc" in text  # a metric column by default


def test_list_by_experiment_name_or_id(ok: Ok, seeded: Seeded) -> None:
    assert set(ids(ok("runs", "list", "-q", "--experiment", "exp-b"))) == {seeded.other}
    assert set(ids(ok("runs", "list", "-q", "-e", seeded.exp_a))) == {seeded.fast, seeded.slow, seeded.child}
    both = ids(ok("runs", "list", "-q", "-e", "exp-a", "-e", "exp-b"))
    assert len(both) == 4


def test_list_filter_order_and_max(ok: Ok, seeded: Seeded) -> None:
    assert set(ids(ok("runs", "list", "-q", "--filter", "metrics.acc > 0.65"))) == {seeded.child, seeded.fast}
    assert ids(ok("runs", "list", "-q", "-f", "params.lr = '0.01' and tags.owner = 'ada'")) == [seeded.slow]
    ordered = ids(ok("runs", "list", "-q", "--order-by", "metrics.acc DESC"))
    assert ordered == [seeded.fast, seeded.child, seeded.slow, seeded.other]
    assert ids(ok("runs", "list", "-q", "-o", "metrics.acc ASC", "--max", "1")) == [seeded.other]
    text = ok("runs", "list", "-o", "metrics.acc DESC", "--max", "2")
    assert "2 runs" in text and "More runs match" in text and seeded.slow not in text


def test_list_extra_columns(ok: Ok, seeded: Seeded) -> None:
    text = ok("runs", "list", "-e", "exp-a", "-c", "params.lr", "-c", "tags.owner")
    assert "params.lr" in text and "tags.owner" in text and "0.01" in text and "ada" in text


def test_list_narrow_console_uses_short_ids(ok: Ok, seeded: Seeded, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "90")
    text = ok("runs", "list")
    assert seeded.fast[:8] in text and seeded.fast not in text


def test_list_errors(cli: Invoke, seeded: Seeded) -> None:
    assert_user_error(cli("runs", "list", "--filter", "metrics.acc >"), "bad filter")
    assert_user_error(cli("runs", "list", "--order-by", "colour.red"), "unknown field prefix")
    assert_user_error(cli("runs", "list", "-e", "nope"), "no experiment with id or name 'nope'")
    assert_user_error(cli("runs", "list", "-c", "lr"), "metrics.KEY")


def test_list_empty(ok: Ok) -> None:
    assert "No runs match." in ok("runs", "list")


def test_delete_restore(ok: Ok, cli: Invoke, seeded: Seeded, client: td.Client) -> None:
    assert "Deleted run" in ok("runs", "delete", seeded.slow)
    assert client.get_run(seeded.slow).lifecycle == "deleted"
    assert seeded.slow not in ok("runs", "list", "-q")
    assert ids(ok("runs", "list", "-q", "--view", "deleted")) == [seeded.slow]
    ok("runs", "restore", seeded.slow[:10])  # a unique prefix is enough
    assert client.get_run(seeded.slow).lifecycle == "active"
    assert_user_error(cli("runs", "delete", "0" * 32), "does not exist")
    assert_user_error(cli("runs", "restore", "not-a-run"), "does not exist")


def test_purge_needs_deleted_runs(cli: Invoke, seeded: Seeded, client: td.Client) -> None:
    assert_user_error(cli("runs", "purge", seeded.fast, "--yes"), "delete runs before purging", seeded.fast)
    assert client.get_run(seeded.fast).lifecycle == "active"
    assert_user_error(cli("runs", "purge", "f" * 32, "--yes"), "does not exist")


def test_purge_named_runs_removes_them_and_their_blobs(ok: Ok, seeded: Seeded, client: td.Client) -> None:
    digest = client.list_artifacts(seeded.fast, "model")[0].digest
    client.tracking.delete_run(seeded.fast)
    text = ok("runs", "purge", seeded.fast, "--yes")
    assert "Purged 1 run and 3 unreferenced blobs" in text and seeded.fast in text
    with pytest.raises(NotFound):
        client.get_run(seeded.fast)
    assert not client.blobs.exists(digest)
    assert client.get_run(seeded.child).parent_id is None


def test_purge_all_asks_first(ok: Ok, cli: Invoke, seeded: Seeded, client: td.Client) -> None:
    assert "No deleted runs to purge." in ok("runs", "purge")
    client.tracking.delete_run(seeded.slow)
    client.tracking.delete_run(seeded.other)
    refused = cli("runs", "purge", input="n\n")
    assert refused.exit_code == 1 and "all 2 deleted runs" in refused.output
    assert client.get_run(seeded.slow).lifecycle == "deleted"
    assert "Purged 2 runs" in ok("runs", "purge", input="y\n")
    for gone in (seeded.slow, seeded.other):
        with pytest.raises(NotFound):
            client.get_run(gone)
    assert client.get_run(seeded.fast).lifecycle == "active"
