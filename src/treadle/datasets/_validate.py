"""Schema validation on create, with pandera: a declared schema, or one inferred and kept.

``schema`` may be a pandera ``DataFrameSchema``, a ``DataFrameModel`` subclass, the string
``"infer"`` (hold the new version to the schema the latest version kept; the first version keeps
one inferred from its data: column names and dtypes), or None (no validation). Violations raise
:class:`SchemaViolation`, whose message lists, per column and check, how many rows failed and
a few failing values with their row numbers.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from treadle.errors import InvalidArgument

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

MAX_REPORTED = 20
INFERRED = "inferred"  # the name of a schema inferred from the data


class SchemaViolation(InvalidArgument):
    """Rows of a new dataset version break its schema; ``failures`` lists them."""

    code = "SCHEMA_VIOLATION"

    def __init__(self, message: str, failures: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.failures = failures or []


def resolve_schema(schema: Any, previous_yaml: str | None, has_previous: bool) -> tuple[Any, bool]:
    """(the pandera schema to check against or None, whether to infer one from the first batch)."""
    if schema is None:
        return None, False
    import pandera.pandas as pdr

    if isinstance(schema, str):
        if schema != "infer":
            raise InvalidArgument(f"schema must be a pandera schema, a DataFrameModel, 'infer' or None, not {schema!r}")
        if previous_yaml:
            return pdr.DataFrameSchema.from_yaml(previous_yaml), False
        return None, not has_previous
    if isinstance(schema, type) and issubclass(schema, pdr.DataFrameModel):
        return schema.to_schema(), False
    if isinstance(schema, pdr.DataFrameSchema):
        return schema, False
    raise InvalidArgument(
        f"schema must be a pandera schema, a DataFrameModel, 'infer' or None, not {type(schema).__name__}"
    )


def infer_schema(batch: pa.RecordBatch) -> Any:
    """Column names and dtypes of ``batch`` (no value ranges: new data may move)."""
    import pandera.pandas as pdr

    frame = _nullable_frame(batch)
    columns = {str(c): pdr.Column(frame[c].dtype, nullable=True) for c in frame.columns}
    return pdr.DataFrameSchema(columns, strict=True, name=INFERRED)


def as_frame(schema: Any, batch: pa.RecordBatch) -> pd.DataFrame:
    """``batch`` as the pandas frame ``schema`` checks. An inferred schema sees integer and boolean
    columns as pandas' nullable dtypes: plain conversion turns an int64 column into float64 (or a
    bool column into object) in just the batches that hold a null, which no dtype check survives."""
    if getattr(schema, "name", None) == INFERRED:
        return _nullable_frame(batch)
    return batch.to_pandas()


def _nullable_frame(batch: pa.RecordBatch) -> pd.DataFrame:
    import pandas as pd
    import pyarrow as pa

    mapping = {
        pa.int8(): pd.Int8Dtype(),
        pa.int16(): pd.Int16Dtype(),
        pa.int32(): pd.Int32Dtype(),
        pa.int64(): pd.Int64Dtype(),
        pa.uint8(): pd.UInt8Dtype(),
        pa.uint16(): pd.UInt16Dtype(),
        pa.uint32(): pd.UInt32Dtype(),
        pa.uint64(): pd.UInt64Dtype(),
        pa.bool_(): pd.BooleanDtype(),
    }
    return batch.to_pandas(types_mapper=mapping.get)


def to_yaml(schema: Any) -> str | None:
    try:
        return str(schema.to_yaml())
    except Exception:  # a schema with custom (lambda) checks cannot be serialised; it is still enforced now
        return None


def validate(schema: Any, frame: pd.DataFrame, first_row: int) -> None:
    """Check one batch; ``first_row`` numbers its rows within the whole source."""
    import pandera.pandas as pdr

    try:
        schema.validate(frame, lazy=True)
    except pdr.errors.SchemaErrors as exc:
        raise _violation(exc.failure_cases, first_row) from None


def _violation(cases: pd.DataFrame, first_row: int) -> SchemaViolation:
    failures: list[dict[str, Any]] = []
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for case in cases.to_dict("records"):
        index = case.get("index")
        row = None if index is None or index != index else int(index) + first_row
        item = {
            "column": None if case.get("column") is None else str(case.get("column")),
            "check": str(case.get("check")),
            "value": _plain(case.get("failure_case")),
            "row": row,
        }
        failures.append(item)
        grouped[(item["column"] or "(table)", item["check"])].append(item)
    lines = []
    for (column, check), items in list(grouped.items())[:MAX_REPORTED]:
        examples = ", ".join(
            f"{i['value']!r}" + (f" (row {i['row']})" if i["row"] is not None else "") for i in items[:3]
        )
        lines.append(f"  column {column!r}: {check} failed for {len(items)} value(s), e.g. {examples}")
    message = "the data does not match the dataset's schema:\n" + "\n".join(lines)
    return SchemaViolation(message, failures[:1000])


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and value != value):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value if isinstance(value, (int, float, str, bool)) else str(value)
