"""The streaming loop: micro-batches from a stream source through a transform into a sink, exactly once.

Per batch: read (re-delivered pending entries first) → transform → ``sink.write(batch_id, ...)`` →
``checkpoint.commit(offset)`` → ``stream.ack(ids)``. A crash between any two steps is safe:

- before the sink write, or between write and commit: the entries are still pending for this
  consumer, come back as the same batch with the same id, and the idempotent sink replaces what
  the first attempt wrote — no loss, no duplicate;
- between commit and ack: the entries come back, but they are at or before the committed offset,
  so they are acknowledged and skipped — no duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa

from treadle.data._util import check_batch_size
from treadle.errors import InvalidArgument

if TYPE_CHECKING:
    from treadle.data._checkpoint import Checkpoint
    from treadle.data._transform import Transform
    from treadle.data.base import Sink, StreamSource


@dataclass(frozen=True)
class StreamStats:
    """What one ``run_stream`` call did: batches and rows written, entries skipped as already
    committed, and the committed offset it ended at."""

    batches: int
    rows: int
    skipped: int
    offset: str | None


def run_stream(
    transform: Transform,
    stream: StreamSource,
    sink: Sink,
    *,
    checkpoint: Checkpoint,
    batch_size: int = 1000,
    block_ms: int = 1000,
    max_batches: int | None = None,
    until_idle: bool = False,
) -> StreamStats:
    """Consume ``stream`` until ``max_batches`` batches were written, or (``until_idle``) until a read
    waited ``block_ms`` for nothing; with neither it runs until interrupted."""
    check_batch_size(batch_size)
    position = stream.position()
    state = checkpoint.load() or {}
    if state and state.get("position") != position:
        raise InvalidArgument(
            f"checkpoint {checkpoint!r} belongs to {state.get('position')}, not {position}: "
            "use one checkpoint per stream consumer"
        )
    offset: str | None = state.get("offset")
    total_batches, total_rows = int(state.get("batches", 0)), int(state.get("rows", 0))
    batches = rows = skipped = 0
    while max_batches is None or batches < max_batches:
        batch = stream.read_batch(batch_size, block_ms)
        if batch is None:
            if until_idle:
                break
            continue
        fresh = [stream.after(i, offset) for i in batch.ids]
        if not all(fresh):  # committed before a crash but never acknowledged
            skipped += fresh.count(False)
            stale = [i for i, ok in zip(batch.ids, fresh, strict=True) if not ok]
            stream.ack(stale)
            if not any(fresh):
                continue
            table = batch.table.filter(pa.array(fresh))
            ids = tuple(i for i, ok in zip(batch.ids, fresh, strict=True) if ok)
            batch_id = ids[0]
        else:
            table, ids, batch_id = batch.table, batch.ids, batch.batch_id
        out = transform.apply_arrow(table)
        sink.write(batch_id, out)
        total_batches += 1
        total_rows += table.num_rows
        offset = ids[-1]
        checkpoint.commit(
            {"position": position, "offset": offset, "batch_id": batch_id, "batches": total_batches, "rows": total_rows}
        )
        stream.ack(batch.ids)
        batches += 1
        rows += table.num_rows
    return StreamStats(batches=batches, rows=rows, skipped=skipped, offset=offset)
