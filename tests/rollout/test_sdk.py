"""``td.deployments``: apply from YAML (or a mapping), plan, status, feedback, promote, rollback."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

import treadle as td
from treadle.errors import InvalidArgument

YAML = """\
deployment:
  name: upsell
  ab:
    unit_key: user_id
    variants:
      - {name: control, model: "/srv/models/upsell-1", weight: 50}
      - {name: treatment, model: "/srv/models/upsell-2", weight: 50}
  shadow: {model: "/srv/models/upsell-3", percent: 10}
"""


def test_deployments_sdk_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "upsell.yaml"
    path.write_text(YAML)
    spec, revision = td.deployments.plan(path)
    assert (spec.name, spec.mode, revision) == ("upsell", "ab", 1)
    first = td.deployments.apply(path, reason="launch")
    assert (first.revision, first.reason) == (1, "launch") and first.spec == spec
    assert td.deployments.plan(path)[1] is None and td.deployments.apply(path).revision == 1
    assert td.deployments.apply(spec.model_dump()).revision == 1  # a mapping works too
    for i in range(30):
        td.deployments.feedback(f"upsell/1/treatment/{i:016x}", 1.0 if i % 3 else 0.0)
    assert not td.deployments.feedback("upsell/1/treatment/0000000000000000", 1.0).accepted
    stats = td.deployments.status("upsell")
    assert stats.variants[1].rewards == 30 and stats.variants[1].reward_mean == pytest.approx(20 / 30)
    assert [d.name for d in td.deployments.list_deployments()] == ["upsell"]
    rolled = td.deployments.rollback("upsell", reason="check")
    assert rolled.status == "rolled_back" and [v.weight for v in rolled.spec.variants] == [50, 0]
    promoted = td.deployments.promote("upsell", "control")  # no registered model: traffic to the control
    assert promoted.status == "promoted" and [v.model for v in promoted.spec.variants] == ["/srv/models/upsell-1"]
    assert [d.status for d in td.deployments.history("upsell")] == ["promoted", "rolled_back", "active"]
    assert td.deployments.get("upsell", 1).spec == spec
    td.deployments.delete("upsell")
    assert td.deployments.list_deployments() == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a list\n", "must hold a mapping"),
        ("name: x\n", "exactly one of routes, ab, bandit"),
        ("name: 'bad name'\nroutes: [{name: a, model: m}]\n", "invalid deployment name"),
        ("name: x\nroutes: [{name: a, model: m, weight: -1}]\n", "routes.0.weight"),
        ("name: x\nroutes: [{name: a, model: m}]\nbogus: 1\n", "bogus"),
        ("name: [unclosed\n", "not valid YAML"),
        ("name: x\nroutes: [{name: a, model: m, weight: 0}]\n", "route weights must add up"),
        (
            "name: x\nab: {unit_key: u, variants: [{name: a, model: m, weight: 0}, {name: b, model: n, weight: 0}]}\n",
            "A/B variant weights must add up",
        ),
    ],
)
def test_bad_specs_say_what_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / f"{uuid.uuid4().hex}.yaml"
    path.write_text(text)
    with pytest.raises(InvalidArgument, match=message):
        td.deployments.apply(path)
