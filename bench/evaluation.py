"""Evaluation benchmark: ``td.evaluate`` with 5 slices against ``mlflow.models.evaluate``.

    .venv/bin/python bench/evaluation.py            # 100,000 rows, 3 repeats (a few minutes on 2 cores)
    .venv/bin/python bench/evaluation.py --quick    # 20,000 rows, 1 repeat

A binary classifier (scikit-learn LogisticRegression on 10 numeric features and a 5-value
``segment``, trained on 20,000 seeded rows) is trained on each side from the same data and seed —
treadle's in .venv, MLflow's in .bench-venv (MLflow 3.17.2, with scikit-learn and matplotlib) —
and the two models' probabilities are checked to agree. Each side logs its model (treadle also
registers it) and is timed on the evaluation rows, model URI in, metrics out:

- treadle: ``td.evaluate("models:/bench-clf/1", frame, targets="label", slices=["segment"],
  explain=False)``: overall and per-slice metrics, plots (ROC, PR, confusion matrix, calibration,
  metric by slice), one tracked run with report and blessing;
- MLflow: ``mlflow.models.evaluate(model_uri, data, targets="label", model_type="classifier",
  evaluators="default")`` once on the whole data and once per segment (MLflow has no slices: that is
  how its users get slice metrics), each in its own run (its default evaluator logs its metrics and
  plots; SHAP is not installed, so no explanations on either side).

Both sides warm up once on 2,000 rows (imports, lazy evaluator loading), then the repeats alternate
sides. The metrics each computed (accuracy, precision, recall, f1, ROC AUC, PR AUC, log loss, overall
and per segment) must agree to 1e-6, or the benchmark fails. Target: treadle at least 3x faster.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import BENCH, MLFLOW_PY, MLFLOW_VERSION, TREADLE_PY, BenchError, cli_main, ensure_bench_venv, print_table
from _evaluation_data import make

TARGET = 3.0
# MLflow's default classifier metric -> treadle's name
SAME = {
    "accuracy_score": "accuracy",
    "precision_score": "precision",
    "recall_score": "recall",
    "f1_score": "f1",
    "roc_auc": "roc_auc",
    "log_loss": "log_loss",
    "precision_recall_auc": "pr_auc",  # MLflow 3 reports average precision under this name
}


def ensure_extras() -> None:
    """scikit-learn and matplotlib in .bench-venv (MLflow's default evaluator plots with matplotlib)."""
    probe = subprocess.run([str(MLFLOW_PY), "-c", "import sklearn, matplotlib"], capture_output=True, check=False)
    if probe.returncode != 0:
        print("[setup] installing scikit-learn and matplotlib into .bench-venv", flush=True)
        subprocess.run([str(MLFLOW_PY), "-m", "pip", "install", "-q", "scikit-learn", "matplotlib"], check=True)


def run_side(side: str, data: Path, tmp: Path, i: int, repeats: int) -> dict:
    py = TREADLE_PY if side == "treadle" else MLFLOW_PY
    out = tmp / f"{side}-{i}.json"
    proc = subprocess.run(
        [str(py), str(BENCH / f"_evaluation_{side}.py"), str(data), str(out), str(repeats)],
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    if proc.returncode != 0:
        raise BenchError(f"{side} side failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    result: dict = json.loads(out.read_text())
    return result


def check_agreement(t: dict, m: dict) -> list[tuple[str, str, float, float]]:
    """Every shared metric overall and per segment: (where, metric, treadle, mlflow); raises on a mismatch."""
    ta, ma = np.asarray(t["proba_head"]), np.asarray(m["proba_head"])
    if not np.allclose(ta, ma, atol=1e-9) or abs(t["proba_sum"] - m["proba_sum"]) > 1e-6:
        raise BenchError("the two sides trained different models (their probabilities differ)")
    rows = []
    pairs = [("overall", t["metrics"], m["metrics"])]
    pairs += [(f"segment={s}", t["slices"][s], m["slices"][s]) for s in sorted(m["slices"])]
    for where, tm, mm in pairs:
        for mname, tname in SAME.items():
            a, b = tm[tname], mm[mname]
            if abs(a - b) > 1e-6:
                raise BenchError(f"{where} {tname}: treadle {a!r} != MLflow {b!r}")
            rows.append((where, tname, a, b))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="20,000 rows, 1 repeat")
    ap.add_argument("--rows", type=int, default=None, help="evaluation rows (default 100,000)")
    ap.add_argument("--repeats", type=int, default=None, help="timed repeats per side (default 3)")
    ap.add_argument("--out", default=str(BENCH / "out" / "evaluation.json"))
    opts = ap.parse_args()
    rows = opts.rows or (20_000 if opts.quick else 100_000)
    repeats = opts.repeats or (1 if opts.quick else 3)
    ensure_bench_venv(MLFLOW_VERSION)
    ensure_extras()
    with tempfile.TemporaryDirectory(prefix="bench-eval-") as tmp_name:
        tmp = Path(tmp_name)
        data = tmp / "data.npz"
        make(data, rows, 20_000)
        results: dict[str, list[dict]] = {"treadle": [], "mlflow": []}
        started = time.monotonic()
        for i in range(repeats):  # alternate sides so a busy neighbour slows both alike
            for side in ("treadle", "mlflow"):
                res = run_side(side, data, tmp, i, 1)
                results[side].append(res)
                print(f"[{side}] repeat {i + 1}: {res['times'][0]:.2f}s", flush=True)
        elapsed = time.monotonic() - started
    t_times = [r["times"][0] for r in results["treadle"]]
    m_times = [r["times"][0] for r in results["mlflow"]]
    agreed = check_agreement(results["treadle"][-1], results["mlflow"][-1])
    t_med, m_med = statistics.median(t_times), statistics.median(m_times)
    t0, m0 = results["treadle"][0], results["mlflow"][0]
    print()
    print(f"treadle {t0['version']} (Python {t0['python']}), MLflow {m0['version']} (Python {m0['python']})")
    print(f"{rows:,} rows, 5 slices, {repeats} repeat(s) per side, medians; {elapsed:.0f}s of benchmarking")
    print()
    met = print_table([(f"evaluate {rows:,} rows + 5 slices", "s", t_med, m_med, m_med / t_med, TARGET)])
    print()
    print(f"metrics agree to 1e-6 on {len(agreed)} values (overall and per segment); overall:")
    for where, name, a, b in agreed:
        if where == "overall":
            print(f"  {name:10s} treadle {a:.6f}  MLflow {b:.6f}")
    out = Path(opts.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "rows": rows,
                "repeats": repeats,
                "treadle_s": t_times,
                "mlflow_s": m_times,
                "ratio": m_med / t_med,
                "target": TARGET,
                "agreed": agreed,
            },
            indent=1,
        )
    )
    print(f"results: {out}")
    return 0 if met else 1


if __name__ == "__main__":
    cli_main(main)
