"""PyTorch: TorchScript (scripted and traced; loads without the class) and state_dict + class."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

from treadle.errors import InvalidArgument
from treadle.models import load_model, save_model

torch = pytest.importorskip("torch", reason="torch is not installed: pip install 'treadle[torch]'")

NET_SOURCE = """
import torch


class Net(torch.nn.Module):
    def __init__(self, hidden: int = 8) -> None:
        super().__init__()
        self.fc1 = torch.nn.Linear(4, hidden)
        self.fc2 = torch.nn.Linear(hidden, 3)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))
"""


@pytest.fixture
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A module that exists only in a user's checkout: its class must travel with code_paths."""
    name = f"usernets_{uuid.uuid4().hex[:8]}"
    src = tmp_path / "src"
    src.mkdir()
    (src / f"{name}.py").write_text(NET_SOURCE)
    monkeypatch.syspath_prepend(str(src))
    yield name, src / f"{name}.py"
    sys.modules.pop(name, None)
    sys.path[:] = [p for p in sys.path if not p.startswith(str(tmp_path))]


def _x() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(16, 4)).astype(np.float32)


def _expected(net: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return net(torch.from_numpy(x)).numpy()


@pytest.mark.parametrize("mode", ["script", "trace"])
def test_torchscript_loads_without_the_class(tmp_path: Path, user_module: tuple[str, Path], mode: str) -> None:
    name, _ = user_module
    torch.manual_seed(0)
    net = __import__(name).Net().eval()
    x = _x()
    manifest = save_model(net, tmp_path / "m", input_example=x[:2], mode=mode)
    assert manifest.flavor == "pytorch" and manifest.flavor_options["mode"] == "torchscript"
    assert manifest.flavor_options["traced"] is (mode == "trace")
    assert f"torch=={torch.__version__}" in manifest.requirements
    sys.modules.pop(name)
    sys.path[:] = [p for p in sys.path if not p.startswith(str(tmp_path))]

    loaded = load_model(tmp_path / "m")
    np.testing.assert_allclose(loaded.predict(x), _expected(net, x), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(loaded.predict(x.astype(np.float64)), _expected(net, x), rtol=1e-6, atol=1e-6)
    assert name not in sys.modules  # TorchScript needs no Python class
    assert manifest.signature is not None and manifest.signature.outputs is not None
    assert manifest.signature.outputs.specs[0].shape == (-1, 3)
    with pytest.raises(InvalidArgument, match=r"input has shape \(16, 3\), expected \(-1, 4\)"):
        loaded.predict(x[:, :3])
    with pytest.raises(InvalidArgument, match="this pytorch model has no predict_proba"):
        loaded.predict_proba(x)
    assert isinstance(load_model(tmp_path / "m", flavor="pytorch"), torch.jit.ScriptModule)


def test_state_dict_with_class_and_code_paths(tmp_path: Path, user_module: tuple[str, Path]) -> None:
    name, path = user_module
    torch.manual_seed(1)
    net = __import__(name).Net(hidden=5).eval()
    x = _x()
    manifest = save_model(
        net,
        tmp_path / "m",
        input_example=x[:2],
        model_class=f"{name}:Net",
        init_kwargs={"hidden": 5},
        code_paths=[path],
    )
    assert manifest.flavor_options["mode"] == "state_dict"
    assert set(manifest.files) == {"state_dict.pt", "input_example.json", f"code/{name}.py"}
    sys.modules.pop(name)
    sys.path[:] = [p for p in sys.path if not p.startswith(str(tmp_path / "src"))]

    loaded = load_model(tmp_path / "m")
    np.testing.assert_allclose(loaded.predict(x), _expected(net, x), rtol=1e-6, atol=1e-6)
    native = load_model(tmp_path / "m", flavor="pytorch")
    assert type(native).__name__ == "Net" and native.fc1.out_features == 5


def test_state_dict_errors(tmp_path: Path, user_module: tuple[str, Path]) -> None:
    name, _ = user_module
    net = __import__(name).Net()
    with pytest.raises(InvalidArgument, match=r"model_class must look like 'package\.module:ClassName'"):
        save_model(net, tmp_path / "m", model_class="Net")
    with pytest.raises(InvalidArgument, match="cannot import model_class 'nowhere_xyz:Net'"):
        save_model(net, tmp_path / "m", model_class="nowhere_xyz:Net")
    with pytest.raises(InvalidArgument, match=r"not an instance of torch\.nn:Linear"):
        save_model(net, tmp_path / "m", model_class="torch.nn:Linear")
    with pytest.raises(InvalidArgument, match="mode='trace' needs an input_example"):
        save_model(net, tmp_path / "m", mode="trace")
    assert not (tmp_path / "m").exists()
