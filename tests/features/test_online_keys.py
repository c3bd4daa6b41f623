"""Entity keys, packing, and choosing an online store by URI."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from treadle.errors import InvalidArgument
from treadle.features.online import (
    KEY_SEPARATOR,
    MemoryOnlineStore,
    SqliteOnlineStore,
    encode_key,
    open_online_store,
    pack,
    unpack,
)


def test_keys_are_the_same_whatever_the_source_type() -> None:
    assert encode_key((7,)) == encode_key((7.0,)) == encode_key(("7",)) == encode_key((np.int64(7),)) == "7"
    assert encode_key((True,)) == "true" and encode_key((b"\x01",)) == "01"
    assert encode_key(("fr", 2)) == f"fr{KEY_SEPARATOR}2"
    assert encode_key(("a", 2)) != encode_key(("a2",))
    assert encode_key((1.5,)) == "1.5"


def test_pack_and_unpack() -> None:
    row = {"f": 0.1, "i": 2**60, "s": "é", "l": [1, 2], "n": None, "np": np.float32(1.5), "nan": math.nan}
    assert unpack(pack(row)) == {"f": 0.1, "i": 2**60, "s": "é", "l": [1, 2], "n": None, "np": 1.5, "nan": None}
    assert isinstance(pack({}), bytes)


def test_open_by_uri(tmp_path: Path) -> None:
    sqlite = open_online_store(f"sqlite:///{tmp_path / 'a' / 'online.db'}")
    assert isinstance(sqlite, SqliteOnlineStore) and (tmp_path / "a" / "online.db").exists()
    sqlite.close()
    plain = open_online_store(str(tmp_path / "b.db"))
    assert isinstance(plain, SqliteOnlineStore)
    plain.close()
    assert isinstance(open_online_store("memory://"), MemoryOnlineStore)
    shared = open_online_store("memory://shared-test")
    shared.write("v", ["k"], [b"1"], [1])
    assert open_online_store("memory://shared-test").read("v", ["k"])[0] is not None
    assert open_online_store("memory://").read("v", ["k"]) == [None]
    with pytest.raises(InvalidArgument, match="unknown online store"):
        open_online_store("cassandra://x")


def test_a_closed_sqlite_store_refuses_work(tmp_path: Path) -> None:
    store = SqliteOnlineStore(tmp_path / "c.db")
    store.write("v", ["k"], [b"1"], [1])
    store.close()
    with pytest.raises(Exception, match="closed"):
        store.read("v", ["k"])
