"""Where one treadle ``/invocations`` request spends its CPU, stage by stage, in one process.

    .venv/bin/python bench/_serving_profile.py             # stage timings + cProfile of the model call
    .venv/bin/python bench/_serving_profile.py --app       # also the whole ASGI app, driven in process

Fits bench/serving.py's LogisticRegression (breast cancer, 30 named columns), saves it with
``treadle.models.save_model`` into a temporary folder and times, per 1-row request (median of
``--repeats``): decoding the ``dataframe_split`` body, building the model's DataFrame, the
signature check, sklearn's own predict, ``ModelRunner.run`` end to end, and encoding the answer.
With ``--app`` it also drives the Starlette app of ``treadle serve --workers 0`` through ASGI calls
(no sockets: what the HTTP server itself adds is not in it). Then prints cProfile's top functions
of ``ModelRunner.run``. A diagnostic for bench/serving.py's figures, not a benchmark of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("TREADLE_CAPTURE_ENVIRONMENT", "false")

import numpy as np
import pandas as pd


def median_us(fn: Callable[[], Any], repeats: int) -> float:
    for _ in range(20):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


async def asgi_call(app: Any, body: bytes) -> tuple[int, bytes]:
    """One POST /invocations through the ASGI interface (what uvicorn would call)."""
    sent = False
    status, chunks = 0, []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/invocations",
        "raw_path": b"/invocations",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 8000),
    }
    await app(scope, receive, send)
    return status, b"".join(chunks)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=2000)
    ap.add_argument("--app", action="store_true", help="also time the ASGI app (treadle serve --workers 0)")
    opts = ap.parse_args()

    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    from treadle.models import save_model
    from treadle.serving._invocations import decode_invocations, encode_invocations
    from treadle.serving._runner import ModelRunner

    ds = load_breast_cancer()
    cols = [str(c) for c in ds.feature_names]
    frame = pd.DataFrame(ds.data, columns=cols)
    model = LogisticRegression(max_iter=10000, random_state=0).fit(frame, ds.target)
    tmp = Path(tempfile.mkdtemp(prefix="treadle-serving-profile-"))
    save_model(model, tmp / "model", input_example=frame.iloc[:5])
    runner = ModelRunner(tmp / "model")
    body = json.dumps({"dataframe_split": {"columns": cols, "data": [ds.data[0].tolist()]}}).encode()
    req = decode_invocations(body, "application/json")
    data = runner._model_input(req.inputs)
    prepared = runner.predictor.prepare(data)
    out = runner.run(req.inputs)
    one = frame.iloc[[0]]
    n = opts.repeats
    stages = {
        "decode dataframe_split body (orjson + 30 columns)": lambda: decode_invocations(body, "application/json"),
        "tensors -> DataFrame (ModelRunner._model_input)": lambda: runner._model_input(req.inputs),
        "signature check (Predictor.prepare)": lambda: runner.predictor.prepare(data),
        "sklearn LogisticRegression.predict (prepared frame)": lambda: model.predict(prepared),
        "sklearn predict on a plain 1-row DataFrame": lambda: model.predict(one),
        "Predictor.predict (check + predict)": lambda: runner.predictor.predict(data),
        "ModelRunner.run end to end": lambda: runner.run(req.inputs),
        "encode the answer": lambda: encode_invocations(out),
        "numpy predict on the raw row (X @ w + b, argmax)": lambda: (
            (ds.data[:1] @ model.coef_.T + model.intercept_) > 0
        ),
    }
    print(f"per 1-row request, median of {n} (load average {os.getloadavg()[0]:.1f}):")
    for name, fn in stages.items():
        print(f"  {name:55s} {median_us(fn, n):9.1f} us")

    if opts.app:
        from treadle.client import Client
        from treadle.serving._server import serving_app

        os.environ["TREADLE_CACHE"] = str(tmp / "cache")
        client = Client(f"sqlite:///{tmp / 'treadle.db'}", str(tmp / "artifacts"))
        app = serving_app(str(tmp / "model"), client=client, workers=0, reload=False)

        async def drive() -> float:
            async with app.router.lifespan_context(app):
                status, answer = await asgi_call(app, body)
                if status != 200:
                    raise SystemExit(f"the app answered {status}: {answer[:300]!r}")
                for _ in range(50):
                    await asgi_call(app, body)
                times = []
                for _ in range(n):
                    t0 = time.perf_counter()
                    await asgi_call(app, body)
                    times.append(time.perf_counter() - t0)
                return statistics.median(times) * 1e6

        print(f"  {'ASGI app, POST /invocations (workers 0, no sockets)':55s} {asyncio.run(drive()):9.1f} us")

    prof = cProfile.Profile()
    prof.enable()
    for _ in range(n):
        runner.run(req.inputs)
    prof.disable()
    print(f"\ncProfile of {n} ModelRunner.run calls (cumulative, top 25):")
    pstats.Stats(prof).sort_stats("cumulative").print_stats(25)
    np.asarray(out["predict"])


if __name__ == "__main__":
    main()
