"""Online store conformance: what every :class:`~treadle.features.online.OnlineStore` must do.

Provide an ``online_store`` fixture (a fresh, empty store; close it afterwards) and import
these tests: ``from treadle.testing.online_stores import *``.
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from treadle.features.online import OnlineStore, encode_key, pack, unpack

__all__ = [
    "test_delete_view_removes_only_that_view",
    "test_empty_and_mismatched_writes",
    "test_equal_event_time_replaces_and_is_idempotent",
    "test_large_batches_round_trip",
    "test_last_writer_wins_by_event_time",
    "test_many_threads_keep_the_newest_row",
    "test_missing_keys_and_unknown_views_read_none",
    "test_out_of_order_batch_keeps_the_newest",
    "test_write_then_read_in_key_order",
]


def _view() -> str:
    return f"view_{uuid.uuid4().hex[:10]}"


def test_write_then_read_in_key_order(online_store: OnlineStore) -> None:
    view = _view()
    before = int(time.time() * 1000)
    keys = [encode_key((i,)) for i in range(5)] + [encode_key(("é ü", 3))]
    rows = [{"f": i, "s": f"v{i}", "l": [1.5, i]} for i in range(6)]
    assert online_store.write(view, keys, [pack(r) for r in rows], [1_000 + i for i in range(6)]) == 6
    got = online_store.read(view, list(reversed(keys)))
    assert [unpack(g[0]) if g else None for g in got] == list(reversed(rows))
    assert [g[1] if g else None for g in got] == [1_005, 1_004, 1_003, 1_002, 1_001, 1_000]
    assert all(g is not None and before <= g[2] <= int(time.time() * 1000) + 1 for g in got)
    # Binary values survive byte for byte, including NULs, commas and non-UTF-8 bytes.
    raw = b"\x00,\xff,1,2,\x00"
    online_store.write(view, ["raw"], [raw], [7])
    assert online_store.read(view, ["raw", "raw"]) == [(raw, 7, pytest.approx(before, abs=120_000))] * 2


def test_missing_keys_and_unknown_views_read_none(online_store: OnlineStore) -> None:
    view = _view()
    online_store.write(view, ["a"], [b"1"], [5])
    got = online_store.read(view, ["nope", "a", "also-nope"])
    assert got[0] is None and got[2] is None and got[1] is not None and got[1][:2] == (b"1", 5)
    assert online_store.read(_view(), ["a", "b"]) == [None, None]
    assert online_store.read(view, []) == []


def test_last_writer_wins_by_event_time(online_store: OnlineStore) -> None:
    view = _view()
    assert online_store.write(view, ["k"], [b"new"], [2_000]) == 1
    assert online_store.write(view, ["k"], [b"old"], [1_000]) == 0  # older: ignored, not counted
    assert online_store.read(view, ["k"])[0][:2] == (b"new", 2_000)  # type: ignore[index]
    assert online_store.write(view, ["k"], [b"newer"], [3_000]) == 1
    assert online_store.read(view, ["k"])[0][:2] == (b"newer", 3_000)  # type: ignore[index]
    # Negative (pre-1970) and large event times compare as numbers.
    assert online_store.write(view, ["n"], [b"a"], [-5_000]) == 1
    assert online_store.write(view, ["n"], [b"b"], [-10_000]) == 0
    assert online_store.write(view, ["n"], [b"c"], [4_102_444_800_000]) == 1
    assert online_store.read(view, ["n"])[0][:2] == (b"c", 4_102_444_800_000)  # type: ignore[index]


def test_equal_event_time_replaces_and_is_idempotent(online_store: OnlineStore) -> None:
    view = _view()
    online_store.write(view, ["k"], [b"first"], [10])
    assert online_store.write(view, ["k"], [b"second"], [10]) == 1
    assert online_store.read(view, ["k"])[0][:2] == (b"second", 10)  # type: ignore[index]
    online_store.write(view, ["k"], [b"second"], [10])  # a rerun of the same write changes nothing visible
    assert online_store.read(view, ["k"])[0][:2] == (b"second", 10)  # type: ignore[index]


def test_out_of_order_batch_keeps_the_newest(online_store: OnlineStore) -> None:
    view = _view()
    keys = ["a", "b", "a", "a", "b", "c"]
    values = [b"a@5", b"b@9", b"a@7", b"a@6", b"b@1", b"c@0"]
    stamps = [5, 9, 7, 6, 1, 0]
    online_store.write(view, keys, values, stamps)
    got = online_store.read(view, ["a", "b", "c"])
    assert [g[:2] if g else None for g in got] == [(b"a@7", 7), (b"b@9", 9), (b"c@0", 0)]


def test_delete_view_removes_only_that_view(online_store: OnlineStore) -> None:
    one, two = _view(), _view()
    online_store.write(one, ["k1", "k2"], [b"1", b"2"], [1, 1])
    online_store.write(two, ["k1"], [b"other"], [1])
    online_store.delete_view(one)
    assert online_store.read(one, ["k1", "k2"]) == [None, None]
    assert online_store.read(two, ["k1"])[0][:2] == (b"other", 1)  # type: ignore[index]
    online_store.delete_view(one)  # deleting an empty or unknown view is fine
    # An older row is accepted again after the view was deleted (nothing remembers the old time).
    assert online_store.write(one, ["k1"], [b"again"], [0]) == 1


def test_empty_and_mismatched_writes(online_store: OnlineStore) -> None:
    view = _view()
    assert online_store.write(view, [], [], []) == 0
    with pytest.raises(ValueError, match="keys"):
        online_store.write(view, ["a", "b"], [b"1"], [1, 2])
    assert online_store.read(view, ["a", "b"]) == [None, None]


def test_large_batches_round_trip(online_store: OnlineStore) -> None:
    view = _view()
    n = 40_000  # past SQLite's host-parameter limit and several Redis script chunks
    keys = [encode_key((i,)) for i in range(n)]
    values = [pack({"x": float(i)}) for i in range(n)]
    assert online_store.write(view, keys, values, [i for i in range(n)]) == n
    probe = [*keys[::-1], "missing"]
    got = online_store.read(view, probe)
    assert len(got) == n + 1 and got[-1] is None
    expected = [(float(n - 1 - i), n - 1 - i) for i in range(n)]
    assert [(unpack(g[0])["x"], g[1]) if g else None for g in got[:-1]] == expected
    # A second full batch with half the rows older: only the newer half applies.
    stamps = [i + 1 if i % 2 else i - 1 for i in range(n)]
    assert online_store.write(view, keys, [pack({"x": -1.0})] * n, stamps) == n // 2
    got = online_store.read(view, keys[:4])
    assert [g[1] if g else None for g in got] == [0, 2, 2, 4]


def test_many_threads_keep_the_newest_row(online_store: OnlineStore) -> None:
    view = _view()
    keys = [f"k{i}" for i in range(20)]
    threads_n, rounds = 8, 25
    errors: list[BaseException] = []
    torn: list[tuple[bytes, int]] = []

    def writer(t: int) -> None:
        try:
            for r in range(rounds):
                ts = r * threads_n + t  # every (thread, round) has its own event time
                online_store.write(view, keys, [pack({"ts": ts, "t": t})] * len(keys), [ts] * len(keys))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def reader() -> None:
        try:
            for _ in range(rounds * 2):
                for got in online_store.read(view, keys):
                    if got is not None and unpack(got[0])["ts"] != got[1]:
                        torn.append((got[0], got[1]))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    workers = [threading.Thread(target=writer, args=(t,)) for t in range(threads_n)]
    workers += [threading.Thread(target=reader) for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert not errors, errors
    assert not torn, f"a reader saw values and event time from different writes: {torn[:3]}"
    newest = (rounds - 1) * threads_n + threads_n - 1
    got = online_store.read(view, keys)
    assert all(g is not None and g[1] == newest and unpack(g[0]) == {"ts": newest, "t": threads_n - 1} for g in got)
