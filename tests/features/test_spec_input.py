"""Malformed definition specs (as a client may POST them) are clear errors, never silent reshaping."""

from __future__ import annotations

from typing import Any

import pytest

from treadle.errors import InvalidArgument
from treadle.features import Entity
from treadle.features._definitions import definition_from_spec

VIEW = {
    "kind": "feature_view",
    "name": "v",
    "source": {"kind": "dataset", "name": "stats"},
    "schema": [{"name": "trips", "dtype": "int64"}],
}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"kind": "entity", "name": "e", "join_keys": "abc"}, None),  # one key named "abc", not a, b, c
        ({"kind": "entity", "name": "e", "join_keys": {"a": 1}}, "join_keys must be a list"),
        ({"kind": "entity", "name": "e", "join_keys": 5}, "join_keys must be a list"),
        ({**VIEW, "entities": "driver"}, "entities must be a list"),
        ({**VIEW, "entities": {"driver": 1}}, "entities must be a list"),
    ],
)
def test_entity_and_view_specs_take_lists_of_names(spec: dict[str, Any], message: str | None) -> None:
    if message is None:
        entity = definition_from_spec(spec)
        assert isinstance(entity, Entity) and entity.join_keys == ("abc",)
        return
    with pytest.raises(InvalidArgument, match=message):
        definition_from_spec(spec)
