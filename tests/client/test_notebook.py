"""A real Jupyter kernel: the notebook is captured and records render as HTML tables."""

from __future__ import annotations

from pathlib import Path

import pytest

import treadle as td

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytestmark = pytest.mark.slow


def test_notebook_path_snapshot_and_html(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    uri, art = f"sqlite:///{tmp_path / 'nb.db'}", str(tmp_path / "art")
    nb_path = tmp_path / "analysis.ipynb"
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import treadle as td\n"
            f"td.set_uri({uri!r}, {art!r})\n"
            "td.set_experiment('notebook')\n"
            "run = td.start_run(name='from-notebook', capture_environment=True)\n"
            "td.log_metric('acc', 0.75)\n"
            "td.end_run()\n"
            "print(run.id)"
        ),
        nbformat.v4.new_code_cell("td.search_runs(output='records')"),
    ]
    nbformat.write(nb, nb_path)
    # Jupyter Server tells each kernel its notebook through JPY_SESSION_NAME; so do we.
    monkeypatch.setenv("JPY_SESSION_NAME", str(nb_path))
    monkeypatch.setenv("TREADLE_CAPTURE_ENVIRONMENT", "true")
    executed = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    run_id = executed.cells[0].outputs[0]["text"].strip()
    html = executed.cells[1].outputs[0]["data"]["text/html"]
    assert "<table>" in html and "from-notebook" in html and "0.75" in html
    client = td.Client(uri, art)
    run = client.get_run(run_id)
    assert run.tags["treadle.notebook"] == str(nb_path) and run.tags["treadle.source"] == str(nb_path)
    snapshot = client.read_artifact(run_id, "_treadle/notebook.ipynb")
    assert b"from-notebook" in snapshot
