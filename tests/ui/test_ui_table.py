"""The runs table's URL state: sorting, paging, column choice."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from treadle.tracking import Run
from treadle.ui._table import PAGE_SIZE, Column, TableState, available_columns, parse_column


def state(**query: object) -> TableState:
    args = {"filter": None, "order_by": None, "cols": None, "page_token": None, "prev": None, **query}
    return TableState.from_query("7", **args)


def run(**fields: object) -> Run:
    base: dict[str, object] = {"id": "r" * 32, "experiment_id": "7", "name": "n", "status": "FINISHED", "start_time": 1}
    return Run.model_validate({**base, **fields})


def test_sorting_goes_descending_then_ascending_and_resets_paging() -> None:
    s = state(page_token="tok2", prev="tok1")
    first = s.sorted_by("metrics.acc")
    assert first.order_by == "metrics.acc DESC" and first.page_token == "" and first.prev == ()
    assert first.sort == ("metrics.acc", True)
    second = first.sorted_by("metrics.acc")
    assert second.order_by == "metrics.acc ASC" and second.sort == ("metrics.acc", False)
    assert second.sorted_by("metrics.acc").order_by == "metrics.acc DESC"
    assert second.sorted_by("params.lr").order_by == "params.lr DESC"


def test_pages_forward_and_back() -> None:
    s0 = state(filter="metrics.acc > 0")
    assert s0.previous_page() is None and s0.first_row == 1
    s1 = s0.next_page("t1")
    s2 = s1.next_page("t2")
    assert (s2.page_token, s2.prev, s2.first_row) == ("t2", ("t1",), 2 * PAGE_SIZE + 1)
    back = s2.previous_page()
    assert back is not None and (back.page_token, back.prev) == ("t1", ())
    home = back.previous_page()
    assert home is not None and home.page_token == "" and home.filter == "metrics.acc > 0"
    # The stack survives the URL round trip.
    query = parse_qs(urlsplit(s2.page_url()).query)
    again = state(filter=query["filter"][0], page_token=query["page_token"][0], prev=query["prev"][0])
    assert again == s2
    assert s2.partial_url().startswith("/experiments/7/runs?") and s2.page_url("/root").startswith("/root/")


def test_columns_default_chosen_and_cleared() -> None:
    runs = [
        run(metrics={"acc": 1.0}, params={"lr": "0.1"}, tags={"team": "a", "treadle.user": "me"}),
        run(id="s" * 32, metrics={"loss": 2.0}, params={"b": "1"}),
    ]
    assert [c.spec for c in state().columns(runs)] == ["metrics.acc", "metrics.loss", "params.b", "params.lr"]
    chosen = state(cols=["tags.team,metrics.acc"])
    assert [c.spec for c in chosen.columns(runs)] == ["tags.team", "metrics.acc"]
    assert chosen.columns(runs)[0].value(runs[0]) == "a" and chosen.columns(runs)[1].value(runs[1]) is None
    assert state(cols=[""]).columns(runs) == []  # explicitly none
    assert Column("tag", "treadle.user") not in available_columns(runs)
    assert Column("tag", "team") in available_columns(runs)


def test_column_specs_quote_odd_keys() -> None:
    col = Column("metric", "val acc")
    assert col.spec == "metrics.`val acc`"
    assert parse_column(col.spec) == col
    assert parse_column("params.a/b") == Column("param", "a/b")
    assert parse_column("bogus.x") is None and parse_column("metrics.") is None
