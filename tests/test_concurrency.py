"""Many writers at once, and a server killed mid-ingest: every acknowledged point lands once."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from treadle import Client, Metric
from treadle.testing.server import free_port, wait_until_up

pytestmark = pytest.mark.slow

WRITERS = 8
POINTS = 1500


def _writer(uri: str, artifacts: str, shared_run: str, index: int) -> None:
    os.environ["TREADLE_CAPTURE_ENVIRONMENT"] = "false"
    import treadle as td

    td.set_uri(uri, artifacts)
    td.set_experiment("concurrent")
    with td.start_run(name=f"writer-{index}"):
        td.log_param("index", index)
        for step in range(POINTS):
            td.log_metric("own", float(step), step=step)
            # Interleave with every other writer on one shared run.
            td.log_metric("shared", float(index), step=index * POINTS + step, run_id=shared_run)
    td.flush()


def _run_writers(uri: str, artifacts: str) -> None:
    client = Client(uri, artifacts)
    exp = client.get_or_create_experiment("concurrent")
    shared = client.tracking.create_run(exp.id, name="shared").id
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(uri, artifacts, shared, i)) for i in range(WRITERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=240)
        assert p.exitcode == 0, f"writer exited with {p.exitcode}"
    runs = client.tracking.search_runs([exp.id], filter="name like 'writer-%'")
    assert len(runs) == WRITERS
    for run in runs:
        history = client.tracking.get_metric_history(run.id, "own")
        assert history.steps == list(range(POINTS)), run.name
    shared_history = client.tracking.get_metric_history(shared, "shared")
    assert shared_history.steps == list(range(WRITERS * POINTS))
    assert shared_history.total_points == WRITERS * POINTS


def test_eight_processes_on_one_sqlite_store(tmp_path: Path) -> None:
    _run_writers(f"sqlite:///{tmp_path / 'c.db'}", str(tmp_path / "art"))


def _start_server(db: Path, art: Path, port: int, workers: int = 1) -> subprocess.Popen[bytes]:
    code = (
        "import treadle.server as s; "
        f"s.run_server(host='127.0.0.1', port={port}, workers={workers}, uri='sqlite:///{db}', artifacts='{art}')"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    wait_until_up(f"http://127.0.0.1:{port}")
    return proc


def test_eight_clients_on_one_server(tmp_path: Path) -> None:
    port = free_port()
    server = _start_server(tmp_path / "s.db", tmp_path / "art", port, workers=2)
    try:
        _run_writers(f"http://127.0.0.1:{port}", str(tmp_path / "unused"))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def test_server_killed_mid_ingest_loses_nothing(tmp_path: Path) -> None:
    import treadle as td

    port = free_port()
    db, art = tmp_path / "k.db", tmp_path / "art"
    server = _start_server(db, art, port)
    td.set_uri(f"http://127.0.0.1:{port}")
    td.set_experiment("sigkill")
    run = td.start_run()
    total = 30_000
    try:
        for step in range(total):
            td.log_metric("m", float(step), step=step)
            if step == total // 3:
                time.sleep(0.3)  # let batches flow, then kill the server mid-stream
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
            if step == total // 2:
                server = _start_server(db, art, port)  # same port: the batcher reconnects
        td.flush(timeout=120)
        td.end_run()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    # Read the database directly: every point exactly once.
    client = Client(f"sqlite:///{db}", str(art))
    history = client.tracking.get_metric_history(run.id, "m")
    assert history.steps == list(range(total))
    assert history.values == [float(s) for s in range(total)]
    assert client.get_run(run.id).status == "FINISHED"


def test_batcher_reports_when_the_server_never_returns(tmp_path: Path) -> None:
    from treadle.client._batcher import BatchError, MetricBatcher

    port = free_port()
    client = Client(f"http://127.0.0.1:{port}")  # nothing listens here
    batcher = MetricBatcher(lambda r, pts: client.tracking.log_batch(r, pts), interval_s=0.05, retry_for_s=1.0)
    batcher.add("0" * 32, Metric(key="m", value=1.0, step=0, timestamp=1))
    with pytest.raises(BatchError, match="cannot reach"):
        batcher.flush(timeout=30)
