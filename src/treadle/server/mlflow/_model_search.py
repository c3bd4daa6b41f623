"""Filtering and ordering MLflow 3 logged models (``logged-models/search``) over their stored properties.

Filters are clauses joined with AND: attributes (``name``, ``model_id``, ``model_type``, ``status``,
``source_run_id``, ``creation_timestamp``, ``last_updated_timestamp``), ``metrics.<key> > 0.9``
(numbers; a model matches if one of its metrics of that key does, limited to the request's
``datasets`` when it names some), ``params.<key> = 'v'`` and ``tags.<key> = 'v'``. ``order_by`` is
MLflow's list of ``{field_name, ascending, dataset_name, dataset_digest}``; models without the
field come last, as in MLflow.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from treadle.server.mlflow._wire import MlflowError

Clause = tuple[str, str, str, Any]  # kind (attribute | metrics | params | tags), key, op, value

_ATTRIBUTES = {
    "name": "name",
    "model_id": "model_id",
    "model_type": "model_type",
    "status": "status",
    "source_run_id": "source_run_id",
    "creation_timestamp": "creation_timestamp_ms",
    "creation_time": "creation_timestamp_ms",
    "last_updated_timestamp": "last_updated_timestamp_ms",
}
_NUMERIC = {"creation_timestamp_ms", "last_updated_timestamp_ms"}
_CLAUSE = re.compile(
    r"^\s*(?:(?P<kind>metrics?|params?|tags?|attributes?)\.)?(?P<key>`[^`]+`|[\w.\-/]+)\s*"
    r"(?P<op>>=|<=|!=|=|>|<|LIKE|ILIKE)\s*(?P<value>'[^']*'|\"[^\"]*\"|[-+\w.]+)\s*$",
    re.IGNORECASE,
)
_HELP = (
    "use name, model_id, model_type, status, source_run_id, creation_timestamp, metrics.<key>, "
    "params.<key> or tags.<key> with =, !=, <, <=, >, >= (LIKE/ILIKE for strings), joined with AND"
)


def parse_filter(filter_string: str | None) -> list[Clause]:
    if not filter_string or not filter_string.strip():
        return []
    clauses: list[Clause] = []
    for part in re.split(r"\s+and\s+", filter_string.strip(), flags=re.IGNORECASE):
        match = _CLAUSE.match(part)
        if match is None:
            raise MlflowError("INVALID_PARAMETER_VALUE", f"unsupported logged model filter {part.strip()!r}: {_HELP}")
        kind = (match["kind"] or "attribute").lower().rstrip("s")
        key, op, raw = match["key"].strip("`"), match["op"].upper(), match["value"]
        shown = f"{match['kind']}.{key}" if match["kind"] else key
        quoted = raw[:1] in ("'", '"')
        value: Any = raw[1:-1] if quoted else raw
        if kind == "attribute":
            if key.lower() not in _ATTRIBUTES:
                raise MlflowError("INVALID_PARAMETER_VALUE", f"unknown logged model attribute {key!r}: {_HELP}")
            key = _ATTRIBUTES[key.lower()]
        if kind == "metric" or key in _NUMERIC:
            if quoted or op in ("LIKE", "ILIKE"):
                raise MlflowError("INVALID_PARAMETER_VALUE", f"{part.strip()!r}: compare {shown} with a number")
            value = _float(value, part)
        elif op in (">", ">=", "<", "<="):
            raise MlflowError("INVALID_PARAMETER_VALUE", f"{part.strip()!r}: {shown} is a string; use =, !=, LIKE")
        clauses.append((kind, key, op, value))
    return clauses


def _float(value: str, part: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise MlflowError("INVALID_PARAMETER_VALUE", f"{part.strip()!r}: {value!r} is not a number") from None


def _holds(actual: Any, op: str, value: Any) -> bool:
    if actual is None:
        return op == "!="
    if op in ("LIKE", "ILIKE"):
        regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in str(value))
        return re.fullmatch(regex, str(actual), re.IGNORECASE if op == "ILIKE" else 0) is not None
    actual = float(actual) if isinstance(value, float) else str(actual)
    return {
        "=": actual == value,
        "!=": actual != value,
        ">": actual > value,
        ">=": actual >= value,
        "<": actual < value,
        "<=": actual <= value,
    }[op]


def _metric_values(props: dict[str, Any], key: str, datasets: list[dict[str, Any]]) -> list[float]:
    out = []
    for m in props.get("metrics") or []:
        if m.get("key") != key:
            continue
        if datasets and not any(
            m.get("dataset_name") == d.get("dataset_name")
            and (not d.get("dataset_digest") or m.get("dataset_digest") == d.get("dataset_digest"))
            for d in datasets
        ):
            continue
        out.append(float(m["value"]))
    return out


def matches(props: dict[str, Any], clauses: list[Clause], datasets: list[dict[str, Any]]) -> bool:
    for kind, key, op, value in clauses:
        if kind == "metric":
            if not any(_holds(v, op, value) for v in _metric_values(props, key, datasets)):
                return False
        elif kind in ("param", "tag"):
            if not _holds((props.get(f"{kind}s") or {}).get(key), op, value):
                return False
        elif not _holds(props.get(key), op, value):
            return False
    return True


def _sort_value(spec: Any) -> tuple[Callable[[dict[str, Any]], Any], bool]:
    """How one ``order_by`` entry reads a model's value, and whether it sorts ascending."""
    if not isinstance(spec, dict) or not spec.get("field_name"):
        raise MlflowError("INVALID_PARAMETER_VALUE", "each order_by entry needs a field_name")
    field = str(spec["field_name"])
    ascending = spec.get("ascending", True) not in (False, "false", "False")
    if field.startswith("metrics."):
        key = field[len("metrics.") :].strip("`")
        datasets = [spec] if spec.get("dataset_name") else []
        pick = min if ascending else max

        def metric(p: dict[str, Any]) -> Any:
            found = _metric_values(p, key, datasets)
            return pick(found) if found else None

        return metric, ascending
    attr = _ATTRIBUTES.get(field.removeprefix("attributes.").lower())
    if attr is None:
        raise MlflowError("INVALID_PARAMETER_VALUE", f"cannot order logged models by {field!r}")
    return (lambda p: p.get(attr)), ascending


def sort(models: list[dict[str, Any]], order_by: list[Any]) -> list[dict[str, Any]]:
    """Newest first by default; each ``order_by`` entry sorts again (stable), the first one last."""
    models = sorted(models, key=lambda p: (-int(p["creation_timestamp_ms"]), p["model_id"]))
    for spec in reversed(order_by):
        value, ascending = _sort_value(spec)
        present = sorted((p for p in models if value(p) is not None), key=value, reverse=not ascending)
        models = present + [p for p in models if value(p) is None]
    return models
