"""The runs table's state (filter, sort, columns, paging) as it travels in the URL."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from urllib.parse import urlencode

from treadle.tracking import Run

PAGE_SIZE = 100
DEFAULT_PER_KIND = 6
MAX_PREV = 200  # page tokens remembered for "previous page"
_KINDS = {"metrics": "metric", "params": "param", "tags": "tag"}
_DIR_RE = re.compile(r"^(?P<field>.+?)\s+(?P<dir>asc|desc)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Column:
    """A params/metrics/tags column; ``spec`` is its filter-language name (``metrics.acc``)."""

    kind: str  # metric | param | tag
    key: str

    @property
    def spec(self) -> str:
        prefix = {"metric": "metrics", "param": "params", "tag": "tags"}[self.kind]
        key = f"`{self.key}`" if " " in self.key else self.key
        return f"{prefix}.{key}"

    def value(self, run: Run) -> str | float | None:
        if self.kind == "metric":
            return run.metrics.get(self.key)
        return (run.params if self.kind == "param" else run.tags).get(self.key)


def parse_column(spec: str) -> Column | None:
    prefix, _, key = spec.strip().partition(".")
    kind = _KINDS.get(prefix)
    key = key.strip("`")
    return Column(kind, key) if kind and key else None


def split_list(values: Iterable[str]) -> list[str]:
    """``["a,b", "c"]`` -> ``["a", "b", "c"]``: lists arrive repeated or comma-joined."""
    return [v.strip() for raw in values for v in raw.split(",") if v.strip()]


@dataclass(frozen=True)
class TableState:
    experiment_id: str
    filter: str = ""
    order_by: str = ""
    cols: tuple[str, ...] | None = None  # None: a default choice from the page's keys
    page_token: str = ""
    prev: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def from_query(
        cls,
        experiment_id: str,
        filter: str | None,
        order_by: str | None,
        cols: list[str] | None,
        page_token: str | None,
        prev: str | None,
    ) -> TableState:
        chosen = None if cols is None else tuple(split_list(cols))
        return cls(
            experiment_id=experiment_id,
            filter=(filter or "").strip(),
            order_by=(order_by or "").strip(),
            cols=chosen,
            page_token=page_token or "",
            prev=tuple(split_list([prev or ""]))[-MAX_PREV:],
        )

    # -- URLs
    def params(self) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.filter:
            out["filter"] = self.filter
        if self.order_by:
            out["order_by"] = self.order_by
        if self.cols is not None:
            out["cols"] = ",".join(self.cols)
        if self.page_token:
            out["page_token"] = self.page_token
        if self.prev:
            out["prev"] = ",".join(self.prev)
        return out

    def page_url(self, root: str = "") -> str:
        """The linkable full page for this state."""
        query = urlencode(self.params())
        return f"{root}/experiments/{self.experiment_id}" + (f"?{query}" if query else "")

    def partial_url(self, root: str = "") -> str:
        """The htmx fragment for this state."""
        query = urlencode(self.params())
        return f"{root}/experiments/{self.experiment_id}/runs" + (f"?{query}" if query else "")

    def first_page(self) -> TableState:
        return replace(self, page_token="", prev=())

    def cleared(self) -> TableState:
        """The same view without its filter."""
        return replace(self.first_page(), filter="")

    def sorted_by(self, spec: str) -> TableState:
        """Sort by ``spec``: descending first, ascending when clicked again."""
        current, desc = self.sort
        direction = "ASC" if current == spec and desc else "DESC"
        return replace(self.first_page(), order_by=f"{spec} {direction}")

    def next_page(self, token: str) -> TableState:
        prev = (*self.prev, self.page_token) if self.page_token else ()
        return replace(self, page_token=token, prev=prev[-MAX_PREV:])

    def previous_page(self) -> TableState | None:
        if not self.page_token:
            return None
        return replace(self, page_token=self.prev[-1] if self.prev else "", prev=self.prev[:-1])

    # -- derived
    @property
    def sort(self) -> tuple[str, bool]:
        """(field, descending) of the current ordering; ``("", False)`` for the default."""
        m = _DIR_RE.match(self.order_by)
        if m:
            return m["field"].strip(), m["dir"].lower() == "desc"
        return self.order_by, False

    @property
    def first_row(self) -> int:
        return (len(self.prev) + 1) * PAGE_SIZE + 1 if self.page_token else 1

    def columns(self, runs: Sequence[Run]) -> list[Column]:
        """The chosen columns, or up to a few metrics and params the page's runs have."""
        if self.cols is not None:
            return [c for c in (parse_column(s) for s in self.cols) if c is not None]
        keys = available_columns(runs)
        metrics = [c for c in keys if c.kind == "metric"][:DEFAULT_PER_KIND]
        params = [c for c in keys if c.kind == "param"][:DEFAULT_PER_KIND]
        return metrics + params


def available_columns(runs: Sequence[Run], also: Iterable[Column] = ()) -> list[Column]:
    """Every metric, param and (non-system) tag key of these runs, metrics first, sorted."""
    found = set(also)
    for r in runs:
        found.update(Column("metric", k) for k in r.metrics)
        found.update(Column("param", k) for k in r.params)
        found.update(Column("tag", k) for k in r.tags if not k.startswith("treadle."))
    order = {"metric": 0, "param": 1, "tag": 2}
    return sorted(found, key=lambda c: (order[c.kind], c.key))
