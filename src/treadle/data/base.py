"""The data layer's contracts: sources (connectors), stream sources and sinks.

A :class:`Source` is anything that yields Arrow record batches:

- ``schema()`` is the Arrow schema of the rows (it may read a little data to infer it);
- ``iter_batches(batch_size)`` streams the rows as record batches of at most ``batch_size`` rows,
  so a source larger than memory can be processed chunk by chunk; it may be called again to read
  the data again (sources over one-shot iterators say so with :class:`~treadle.errors.InvalidArgument`);
- ``to_arrow()`` reads everything into one table;
- ``spec()`` is a JSON-serialisable dict with a ``"kind"`` from which :func:`source_from_spec`
  re-creates the source; secrets (passwords, keys, tokens) are never inlined: they are masked
  and must come from the environment (``${VAR}`` in URLs) when the spec is re-opened;
- ``describe()`` is one line for UIs and error messages.

Malformed input raises :class:`~treadle.errors.InvalidArgument` naming the file, entry or column.
Sources are not shared between threads; open one per thread.

A :class:`StreamSource` is a source over an unbounded stream read in micro-batches: ``read_batch``
returns the next batch (re-delivering, first, any batch read but never acknowledged by this consumer,
so a batch interrupted by a crash comes back with the same rows and the same ``batch_id``), and
``ack`` marks a batch done.

A :class:`Sink` receives ``(batch_id, table)`` pairs. ``write`` is idempotent per ``batch_id``:
writing an id again replaces what the earlier write stored, so a batch re-written after a crash is
stored once. Together with a checkpoint committed after the sink write, that is exactly-once.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import pyarrow as pa

from treadle.errors import InvalidArgument

_BATCH_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


def check_batch_id(batch_id: str) -> str:
    """A batch id names a file in sinks: letters, digits, ``.``, ``_`` and ``-`` only."""
    if not isinstance(batch_id, str) or not _BATCH_ID.match(batch_id):
        raise InvalidArgument(
            f"batch id {batch_id!r} is not valid: use 1-200 letters, digits, '.', '_' or '-' (not first)"
        )
    return batch_id


class Source(ABC):
    """Rows as Arrow record batches (see the module docstring for the contract)."""

    kind: ClassVar[str] = "source"

    @abstractmethod
    def schema(self) -> pa.Schema: ...

    @abstractmethod
    def iter_batches(self, batch_size: int = 65_536) -> Iterator[pa.RecordBatch]: ...

    def to_arrow(self) -> pa.Table:
        tables = [pa.Table.from_batches([b]) for b in self.iter_batches()]
        if not tables:
            return self.schema().empty_table()
        if len(tables) == 1:
            return tables[0]
        return pa.concat_tables(tables, promote_options="permissive")  # later batches may have widened types

    @abstractmethod
    def spec(self) -> dict[str, Any]: ...

    def describe(self) -> str:
        return self.kind

    def num_rows(self) -> int | None:
        """The row count when it is known without reading the data (for progress bars), else None."""
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}>"


@dataclass(frozen=True)
class StreamBatch:
    """One micro-batch read from a stream: its id (stable across re-deliveries), entry ids, rows."""

    batch_id: str
    ids: tuple[str, ...]
    table: pa.Table

    @property
    def last_id(self) -> str:
        return self.ids[-1]


class StreamSource(Source):
    """A source over an unbounded stream, read in micro-batches by one named consumer."""

    @abstractmethod
    def read_batch(self, count: int, block_ms: int | None = None) -> StreamBatch | None:
        """The next batch of at most ``count`` entries, or None when nothing came in ``block_ms``.

        Entries this consumer read earlier but never acknowledged come back first, in the same
        order and with the same ``batch_id``."""

    @abstractmethod
    def ack(self, ids: tuple[str, ...] | list[str]) -> None:
        """Mark entries done: they are never delivered to this consumer group again."""

    @abstractmethod
    def position(self) -> dict[str, str]:
        """What identifies this reader (stream, group, consumer); checkpoints refuse another one."""

    @staticmethod
    def after(entry_id: str, offset: str | None) -> bool:
        """True when ``entry_id`` comes after ``offset`` in the stream's order."""
        return offset is None or entry_order(entry_id) > entry_order(offset)


def entry_order(entry_id: str) -> tuple[int, int]:
    """Redis stream ids ``<ms>-<seq>`` as a sortable tuple."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


class Sink(ABC):
    """Receives transformed batches; ``write`` replaces an earlier write of the same batch id."""

    @abstractmethod
    def write(self, batch_id: str, table: pa.Table) -> None: ...

    def close(self) -> None:  # noqa: B027 - optional hook
        """Flush and release resources (optional)."""
