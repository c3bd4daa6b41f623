"""Compiling filters and orderings into SQL over the runs table."""

from __future__ import annotations

import base64
import binascii
import functools
import re
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Integer, and_, bindparam, exists, false, literal, not_, or_, select
from sqlalchemy.sql import Select

from treadle.errors import InvalidArgument
from treadle.tracking import _tables as t
from treadle.tracking._filter import BoolOp, Compare, Field, parse_field, parse_filter
from treadle.tracking._store import lifecycle_filter

_NUMERIC_OPS = {"=", "!=", "<", "<=", ">", ">="}
_STRING_OPS = {"=", "!=", "like", "ilike", "in", "not in"}
_ORDER_RE = re.compile(
    r"^\s*(?P<field>[A-Za-z_]+\.(?:`[^`]+`|\"[^\"]+\"|\S+)|[A-Za-z_]+)(?:\s+(?P<dir>asc|desc))?\s*$", re.IGNORECASE
)


def _compare(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    match op:
        case "=":
            return column == value
        case "!=":
            return column != value
        case "<":
            return column < value
        case "<=":
            return column <= value
        case ">":
            return column > value
        case ">=":
            return column >= value
        case "like":
            return column.like(value)
        case "ilike":
            return column.ilike(value)
        case "in":
            return column.in_(value)
        case "not in":
            return column.not_in(value)
    raise InvalidArgument(f"unsupported operator {op!r}")


def _check(cmp: Compare, allowed: set[str], what: str, want: type | tuple[type, ...]) -> None:
    if cmp.op not in allowed | {"is null", "is not null"}:
        raise InvalidArgument(f"operator {cmp.op.upper()} does not apply to {what} {cmp.field.key!r}")
    values = cmp.value if isinstance(cmp.value, tuple) else (cmp.value,)
    for v in values:
        if v is not None and not isinstance(v, want):
            kind = "a number" if want is float else "a quoted string"
            raise InvalidArgument(f"{what} {cmp.field.key!r} must be compared with {kind}, got {v!r}")


def _clause(node: Compare | BoolOp) -> ColumnElement[bool]:
    if isinstance(node, BoolOp):
        parts = [_clause(i) for i in node.items]
        return and_(*parts) if node.op == "and" else or_(*parts)
    f = node.field
    if f.kind == "attribute":
        column = t.runs.c[f.key]
        numeric = f.key in ("start_time", "end_time")
        _check(node, _NUMERIC_OPS if numeric else _STRING_OPS, "attribute", float if numeric else str)
        if f.key == "experiment_id":
            try:
                value: Any = tuple(int(v) for v in node.value) if isinstance(node.value, tuple) else int(node.value)
            except (TypeError, ValueError):
                raise InvalidArgument(f"experiment_id must be an id, got {node.value!r}") from None
            node = Compare(f, node.op, value)
        if node.op == "is null":
            return column.is_(None)
        if node.op == "is not null":
            return column.is_not(None)
        return _compare(column, node.op, node.value)
    table = _TABLES[f.kind]
    _check_value(node)
    match_key = and_(table.c.run_id == t.runs.c.id, table.c.key == f.key)
    if node.op in ("is null", "is not null"):
        has = exists(select(literal(1)).where(match_key))
        return has if node.op == "is not null" else not_(has)
    # IN (uncorrelated subquery) lets the database use the (key, value) index instead of probing every run.
    return t.runs.c.id.in_(select(table.c.run_id).where(table.c.key == f.key, _value_condition(table, node)))


_TABLES = {"metric": t.latest_metrics, "param": t.params, "tag": t.tags}


def _check_value(node: Compare) -> None:
    if node.field.kind == "metric":
        _check(node, _NUMERIC_OPS, "metric", float)
    else:
        _check(node, _STRING_OPS, node.field.kind, str)


def _value_condition(table: Any, node: Compare) -> ColumnElement[bool]:
    cond = _compare(table.c.value, node.op, node.value)
    return and_(cond, table.c.is_nan == false()) if node.field.kind == "metric" else cond


def _joinable(node: Compare | BoolOp) -> bool:
    return isinstance(node, Compare) and node.field.kind != "attribute" and node.op not in ("is null", "is not null")


def apply_filter(query: Select[Any], text: str | None) -> Select[Any]:
    """Add a filter. The top-level AND terms on metrics, params and tags become inner joins on
    (run_id, key), unique in their tables so no run repeats: the planner can then start from the
    most selective term's (key, value) index. Other terms (OR, IS NULL, attributes) stay in WHERE."""
    tree = parse_filter(text)
    if tree is None:
        return query
    terms = tree.items if isinstance(tree, BoolOp) and tree.op == "and" else (tree,)
    for i, term in enumerate(terms):
        if not _joinable(term):
            query = query.where(_clause(term))
            continue
        assert isinstance(term, Compare)
        _check_value(term)
        table = _TABLES[term.field.kind].alias(f"f{i}")
        on = and_(table.c.run_id == t.runs.c.id, table.c.key == term.field.key, _value_condition(table, term))
        query = query.join(table, on)
    return query


def apply_order(query: Select[Any], order_by: list[str] | None) -> Select[Any]:
    """Order by attributes, metrics, params or tags; runs missing the key sort last."""
    for i, spec in enumerate(order_by or []):
        m = _ORDER_RE.match(spec)
        if not m:
            raise InvalidArgument(f"bad order_by {spec!r}: use e.g. 'metrics.acc DESC'")
        field: Field = parse_field(m["field"].strip())
        desc = (m["dir"] or "asc").lower() == "desc"
        if field.kind == "attribute":
            column: Any = t.runs.c[field.key]
        else:
            table = _TABLES[field.kind].alias(f"o{i}")
            query = query.outerjoin(table, and_(table.c.run_id == t.runs.c.id, table.c.key == field.key))
            column = table.c.value
        query = query.order_by(column.is_(None), column.desc() if desc else column.asc())
    return query.order_by(t.runs.c.start_time.desc(), t.runs.c.id)


@functools.lru_cache(maxsize=256)
def search_statement(
    experiment_pks: tuple[int, ...], view: str, filter: str | None, order_by: tuple[str, ...]
) -> Select[Any]:
    """The runs query of a search, built once per distinct (experiments, view, filter, order): the
    UI and clients repeat the same searches, and building the expression costs as much as running it.
    Limit and offset are bound at execution (``limit``, ``offset``). Statements are immutable, so
    sharing them between threads is safe; a filter that does not parse raises and is not cached."""
    r = t.runs
    query = select(r).where(*lifecycle_filter(view, r.c.lifecycle))
    if experiment_pks:
        query = query.where(r.c.experiment_id.in_(experiment_pks))
    query = apply_order(apply_filter(query, filter), list(order_by))
    return query.limit(bindparam("limit", type_=Integer)).offset(bindparam("offset", type_=Integer))


def encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"offset": offset})).decode()


def decode_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        offset = orjson.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except (binascii.Error, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        raise InvalidArgument("page_token is not one this server issued") from None
    if not isinstance(offset, int) or offset < 0:
        raise InvalidArgument("page_token is not one this server issued")
    return offset


__all__ = ["apply_filter", "apply_order", "decode_token", "encode_token", "search_statement"]
