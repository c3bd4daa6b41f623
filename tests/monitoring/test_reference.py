"""Finding a monitor's reference: through lineage (deployment -> model version -> run -> dataset
version it read), or given as a frame / 'name@version' / 'name@alias' / DatasetVersion; clear
errors when neither works; the stored profile carries the model's answers and CBPE's fit."""

from __future__ import annotations

import warnings

import pytest
from sklearn.linear_model import LogisticRegression

import treadle as td
from treadle.errors import AlreadyExists, InvalidArgument, NotFound
from treadle.monitoring._profile import Profile
from treadle.monitoring._reference import given_reference, lineage_reference, training_datasets
from treadle.monitoring._sdk import parse_window

from .runner_support import DATASET, DEPLOYMENT, FEATURES, MODEL, frame, served_model


def _profile(name: str) -> Profile:
    mon = td.monitoring.get_monitor(name)
    assert mon.reference is not None
    return Profile.from_bytes(td.get_client().blobs.read_bytes(mon.reference.profile_digest))


def test_reference_through_lineage_with_predictions_and_cbpe() -> None:
    served_model()
    client = td.get_client()
    run_id = client.get_model_version(MODEL, 1).run_id
    assert run_id is not None and training_datasets(client, run_id) == [(DATASET, 1)]
    found = lineage_reference(client, f"models:/{MODEL}@champion", ["label"])
    assert (found.dataset, found.version, found.found_by, len(found.frame)) == (DATASET, 1, "lineage", 600)
    found = lineage_reference(client, f"runs:/{run_id}/model", [])
    assert found.dataset == DATASET

    mon = td.monitoring.create_monitor("lin", DEPLOYMENT, target="label")
    prof = _profile("lin")
    assert set(prof.columns) == {*FEATURES, "prediction"} and prof.columns["prediction"].kind == "categorical"
    assert prof.extra["features"] == FEATURES and prof.extra["classes"] == [0, 1] and "cbpe" in prof.extra
    assert mon.spec.reference_dataset == DATASET and mon.spec.reference_version == 1
    # Without a target there is nothing to calibrate CBPE on; predictions are still profiled.
    td.monitoring.create_monitor("lin", DEPLOYMENT, replace=True)
    assert "cbpe" not in _profile("lin").extra and "prediction" in _profile("lin").columns
    assert [m.spec.name for m in td.monitoring.list_monitors()] == ["lin"]
    td.monitoring.delete_monitor("lin")
    with pytest.raises(NotFound):
        td.monitoring.get_monitor("lin")


def test_given_references() -> None:
    data = frame(50, seed=0)
    client = td.get_client()
    v1 = td.datasets.create("ref", data)
    td.datasets.create("ref", frame(60, seed=1), alias="prod")
    assert len(given_reference(client, data).frame) == 50
    assert (given_reference(client, "ref@1").version, len(given_reference(client, "ref@1").frame)) == (1, 50)
    assert given_reference(client, "ref@prod").version == 2
    assert given_reference(client, "ref").version == 2  # the latest
    assert given_reference(client, "datasets:/ref/1").version == 1
    assert given_reference(client, v1).version == 1
    assert given_reference(client, td.datasets.get("ref", 1)).dataset == "ref"
    with pytest.raises(InvalidArgument, match="DataFrame"):
        given_reference(client, 42)
    with pytest.raises(NotFound):
        given_reference(client, "ref@9")
    mon = td.monitoring.create_monitor("g", "nowhere", reference="ref@prod", target="label", window="1h")
    assert mon.reference is not None and (mon.reference.dataset, mon.reference.version) == ("ref", 2)
    assert mon.reference.prediction is None  # no deployment, no model: no predictions to profile
    assert mon.spec.features == FEATURES


def test_clear_errors_when_no_reference_can_be_found() -> None:
    with pytest.raises(NotFound, match="pass reference="):
        td.monitoring.create_monitor("x", "no-such-deployment")
    data = frame(100, seed=0)
    with td.start_run():  # trained without recording what it read
        model = LogisticRegression().fit(data[FEATURES], data["label"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            td.log_model(model, "model", registered_model_name="orphan")
    with pytest.raises(NotFound, match=r"recorded no dataset version.*pass reference="):
        td.monitoring.create_monitor("x", "d", model="models:/orphan/1")
    with pytest.raises(NotFound, match="pass reference="):
        td.monitoring.create_monitor("x", "d", model="/some/folder")
    assert td.monitoring.list_monitors() == []


def test_bad_arguments() -> None:
    data = frame(40, seed=0)
    with pytest.raises(InvalidArgument, match="not in the reference"):
        td.monitoring.create_monitor("x", "d", reference=data, features=["f0", "nope"])
    with pytest.raises(InvalidArgument, match="target 'y'"):
        td.monitoring.create_monitor("x", "d", reference=data, target="y")
    with pytest.raises(InvalidArgument, match="cannot also be a feature"):
        td.monitoring.create_monitor("x", "d", reference=data, target="label", features=["f0", "label"])
    with pytest.raises(InvalidArgument, match="no rows"):
        td.monitoring.create_monitor("x", "d", reference=data.head(0))
    with pytest.raises(InvalidArgument, match="not understood"):
        td.monitoring.create_monitor("x", "d", reference=data, window="soon")
    # a drift config no window could run is refused at creation, not failed at every run
    with pytest.raises(InvalidArgument, match="unknown drift test 'kss'"):
        td.monitoring.create_monitor("x", "d", reference=data, drift={"tests": {"f0": "kss"}})
    with pytest.raises(InvalidArgument, match="'zz', which is not monitored"):
        td.monitoring.create_monitor("x", "d", reference=data, drift={"tests": {"zz": "ks"}})
    with pytest.raises(InvalidArgument, match="does not apply to numeric"):
        td.monitoring.create_monitor("x", "d", reference=data, drift={"default_numeric": "mmd"})
    assert td.monitoring.list_monitors() == []
    td.monitoring.create_monitor("x", "d", reference=data)
    with pytest.raises(AlreadyExists, match="replace=True"):
        td.monitoring.create_monitor("x", "d", reference=data)


@pytest.mark.parametrize(
    ("given", "kind", "size"),
    [
        ("1000 rows", "count", 1000),
        ("250", "count", 250),
        (500, "count", 500),
        ("1h", "time", 3600),
        ("30m", "time", 1800),
        ("90 s", "time", 90),
        ("2 hours", "time", 7200),
        ("1 day", "time", 86400),
        ({"kind": "time", "seconds": 5}, "time", 5),
    ],
)
def test_window_shorthand(given: object, kind: str, size: int) -> None:
    w = parse_window(given)  # type: ignore[arg-type]
    assert w.kind == kind and (w.rows if kind == "count" else w.seconds) == size


def test_the_stored_profile_survives_gc() -> None:
    td.monitoring.create_monitor("kept", "d", reference=frame(50, seed=0))
    mon = td.monitoring.get_monitor("kept")
    assert mon.reference is not None
    report = td.get_client().gc(dry_run=True, grace_s=0)
    assert mon.reference.profile_digest not in report.unreferenced
