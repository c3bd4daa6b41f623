"""LineageService.list_nodes: nodes of one type, paged by id."""

from __future__ import annotations

import pytest

from treadle import Client
from treadle.errors import InvalidArgument


def test_list_nodes_by_type_in_pages(sqlite_uri: str, tmp_path: object) -> None:
    client = Client(sqlite_uri, str(tmp_path))
    made = [client.lineage.put_node("artifact", "test.Thing", f"t{i}", external_id=f"thing:{i}").id for i in range(5)]
    client.lineage.put_node("artifact", "test.Other", "o", external_id="other:1")
    first = client.lineage.list_nodes("test.Thing", limit=2)
    assert [n.id for n in first] == made[:2]
    rest = client.lineage.list_nodes("test.Thing", after_id=first[-1].id)
    assert [n.id for n in rest] == made[2:]
    assert {n.type for n in first + rest} == {"test.Thing"}
    assert client.lineage.list_nodes("test.None") == []
    with pytest.raises(InvalidArgument):
        client.lineage.list_nodes("test.Thing", limit=0)
