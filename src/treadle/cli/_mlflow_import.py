"""Copy an MLflow store into treadle (``treadle import mlflow``), idempotently.

The MLflow side is read by :data:`~treadle.cli._mlflow_export.EXPORTER` in an mlflow venv; this side
writes through treadle's client services. What was imported is remembered in treadle itself: the
experiment tag ``mlflow.import.experiment_id``, the run tag ``mlflow.import.run_id`` and the version
tag ``mlflow.import.version``; a rerun skips those (re-sending a run's metric points appends only the
new ones, as ``log_batch`` ignores points it already holds). Registered versions hold their own copy of
the files (the version's flavor comes from its ``MLmodel``, as for versions the mlflow client registers).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from treadle.client import Client
from treadle.errors import AlreadyExists, InvalidArgument, NotFound
from treadle.server.mlflow._registry import MODEL_ID_TAG
from treadle.server.mlflow._tracking import PARENT, RUN_NAME
from treadle.tracking import ArtifactIn, Metric

EXP_TAG, RUN_TAG, VERSION_TAG = "mlflow.import.experiment_id", "mlflow.import.run_id", "mlflow.import.version"
TERMINAL = {"FINISHED", "FAILED", "KILLED"}
CHUNK = 10_000
Progress = Callable[[str], None]


def find_mlflow_python(explicit: str | None) -> str:
    """``--mlflow-python``, else ``$TREADLE_MLFLOW_PYTHON``, else ``./.venv-mlflow``; each must import mlflow."""
    candidates = [explicit] if explicit else []
    if not candidates and os.environ.get("TREADLE_MLFLOW_PYTHON"):
        candidates = [os.environ["TREADLE_MLFLOW_PYTHON"]]
    if not candidates:
        candidates = [str(Path.cwd() / ".venv-mlflow" / "bin" / "python")]
    python = candidates[0]
    probe = (
        subprocess.run([python, "-c", "import mlflow"], capture_output=True, text=True, check=False)
        if (Path(python).exists())
        else None
    )
    if probe is None or probe.returncode != 0:
        raise InvalidArgument(
            f"no python with mlflow at {python}: pass --mlflow-python PATH (or set TREADLE_MLFLOW_PYTHON) to an "
            "interpreter where `import mlflow` works, e.g. python -m venv .venv-mlflow && "
            ".venv-mlflow/bin/pip install mlflow"
        )
    return python


def tracking_uri(source: str) -> str:
    """An MLflow tracking URI for ``--from``: a URI as given, a directory as ``file://`` (an mlruns store)."""
    if "://" in source or source.startswith("sqlite:"):
        return source
    path = Path(source).resolve()
    if not path.is_dir():
        raise InvalidArgument(f"--from {source!r} is neither a tracking URI nor an mlruns directory")
    return path.as_uri()


def already_imported(client: Client) -> dict[str, list[Any]]:
    """What an earlier import holds in full (finished runs, versions): the exporter skips their files."""
    runs: list[str] = []
    for exp in client.tracking.list_experiments("all"):
        if EXP_TAG not in exp.tags:
            continue
        token = None
        while True:
            page = client.tracking.search_runs([exp.id], max_results=1000, page_token=token, view="all")
            runs += [r.tags[RUN_TAG] for r in page.runs if RUN_TAG in r.tags and r.status in TERMINAL]
            token = page.next_page_token
            if not token:
                break
    versions = [
        [v.name, v.tags[VERSION_TAG]]
        for v in client.registry.search_versions(include_archived=True, max_results=50_000)
        if VERSION_TAG in v.tags
    ]
    return {"runs": runs, "versions": versions}


def export(
    python: str, uri: str, out: Path, progress: Progress, skip: dict[str, list[Any]] | None = None
) -> Iterator[dict[str, Any]]:
    """Run the exporter; yields the records it wrote once it is done."""
    from treadle.cli._mlflow_export import EXPORTER

    script = out / "treadle_mlflow_export.py"
    script.write_text(EXPORTER)
    (out / "skip.json").write_text(json.dumps(skip or {}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_TRACKING", "PYTHONPATH"))}
    env.setdefault("GIT_PYTHON_REFRESH", "quiet")
    if uri.startswith("file:"):  # MLflow 3 refuses its file store unless asked: reading one is what we want
        env["MLFLOW_ALLOW_FILE_STORE"] = "true"
    proc = subprocess.Popen(
        [python, str(script), uri, str(out), str(out / "skip.json")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    for line in proc.stdout:
        try:
            item = json.loads(line)
            progress(f"reading MLflow {item['type']} {item['id']}")
        except (ValueError, KeyError, TypeError):
            continue
    err = proc.stderr.read()
    if proc.wait() != 0:
        raise InvalidArgument(f"reading the MLflow store {uri} failed:\n{err.strip()[-3000:]}")
    with open(out / "export.jsonl") as fh:
        for line in fh:
            yield json.loads(line)


class Importer:
    """Writes exported MLflow records into treadle; ``counts`` is the summary."""

    def __init__(self, client: Client, root: Path) -> None:
        self.client, self.root = client, root
        self.counts: Counter[str] = Counter()
        self.experiments: dict[str, str] = {}  # mlflow id -> treadle id
        self.runs: dict[str, str] = {}
        self._known_runs: dict[str, dict[str, str]] = {}  # treadle experiment -> mlflow run id -> treadle id

    # ---------------------------------------------------------------- experiments
    def experiment(self, rec: dict[str, Any]) -> None:
        tracking = self.client.tracking
        if rec["lifecycle"] != "active":
            self.counts["experiments skipped (deleted)"] += 1
            return
        mine = {e.tags.get(EXP_TAG): e for e in tracking.list_experiments("all") if e.tags.get(EXP_TAG)}
        if rec["id"] in mine:
            self.experiments[rec["id"]] = mine[rec["id"]].id
            self.counts["experiments already there"] += 1
            return
        tags = {k: v for k, v in rec["tags"].items() if k != "mlflow.note.content"}
        try:
            exp = tracking.create_experiment(rec["name"], description=rec["tags"].get("mlflow.note.content"), tags=tags)
            self.counts["experiments imported"] += 1
        except AlreadyExists:  # same name in treadle (e.g. "Default"): import into it
            exp = tracking.get_experiment_by_name(rec["name"])
            for k, v in tags.items():
                tracking.set_experiment_tag(exp.id, k, v)
            self.counts["experiments merged by name"] += 1
        tracking.set_experiment_tag(exp.id, EXP_TAG, rec["id"])
        self.experiments[rec["id"]] = exp.id

    def _existing_runs(self, exp_id: str) -> dict[str, str]:
        if exp_id not in self._known_runs:
            found: dict[str, str] = {}
            token = None
            while True:
                page = self.client.tracking.search_runs([exp_id], max_results=1000, page_token=token, view="all")
                found.update({r.tags[RUN_TAG]: r.id for r in page.runs if RUN_TAG in r.tags})
                token = page.next_page_token
                if not token:
                    break
            self._known_runs[exp_id] = found
        return self._known_runs[exp_id]

    # ---------------------------------------------------------------- runs
    def ordered_runs(self, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Parents before children."""
        ids = {r["id"] for r in runs}
        done: set[str] = set()
        out: list[dict[str, Any]] = []
        pending = sorted(runs, key=lambda r: r["start_time"] or 0)
        while pending:
            ready = [r for r in pending if r["tags"].get(PARENT) not in ids or r["tags"].get(PARENT) in done]
            ready = ready or pending  # a cycle cannot happen; be safe anyway
            for r in ready:
                out.append(r)
                done.add(r["id"])
            pending = [r for r in pending if r["id"] not in done]
        return out

    def run(self, rec: dict[str, Any]) -> None:
        tracking = self.client.tracking
        exp_id = self.experiments.get(rec["experiment_id"])
        if exp_id is None or rec["lifecycle"] != "active":
            self.counts["runs skipped (deleted)"] += 1
            return
        existing = self._existing_runs(exp_id)
        tags = dict(rec["tags"])
        tags.pop(PARENT, None)
        description = tags.pop("mlflow.note.content", None)
        tags[RUN_TAG] = rec["id"]
        if rec["user_id"] and "mlflow.user" not in tags:
            tags["mlflow.user"] = rec["user_id"]
        run_id = existing.get(rec["id"])
        parent = self.runs.get(rec["tags"].get(PARENT, ""))
        if run_id is None:
            run = tracking.create_run(
                exp_id,
                name=rec["name"] or tags.get(RUN_NAME),
                parent_id=parent,
                tags=tags,
                description=description,
                start_time=rec["start_time"],
            )
            run_id = existing[rec["id"]] = run.id
            self.counts["runs imported"] += 1
            new = True
        else:
            self.counts["runs already there"] += 1
            new = False
        self.runs[rec["id"]] = run_id
        if parent is not None:
            tags[PARENT] = parent
        points = [
            Metric(key=key, step=step, timestamp=ts, value=value)
            for key, history in rec["metrics"].items()
            for step, ts, value in history
        ]
        tracking.log_batch(run_id, params=rec["params"] or None, tags=tags)
        added = 0
        for i in range(0, len(points), CHUNK):
            added += tracking.log_batch(run_id, metrics=points[i : i + CHUNK])
        self.counts["metric points imported"] += added
        self.counts["params imported"] += len(rec["params"]) if new else 0
        if rec["files"]:
            have = {f.path: f.digest for f in tracking.list_artifacts(run_id)}
            files = [f for f in self._upload(self.root / rec["files"]) if have.get(f.path) != f.digest]
            if files:
                tracking.add_artifacts(run_id, files)
            self.counts["artifact files imported"] += len(files)
        current = tracking.get_run(run_id)
        if rec["status"] in TERMINAL and current.status != rec["status"]:
            tracking.update_run(run_id, status=rec["status"], end_time=rec["end_time"])

    def _upload(self, folder: Path) -> list[ArtifactIn]:
        files = []
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            info = self.client.blobs.put_file(path)
            files.append(ArtifactIn(path=path.relative_to(folder).as_posix(), digest=info.digest, size=info.size))
        return files

    # ---------------------------------------------------------------- registry
    def model(self, rec: dict[str, Any], versions: list[dict[str, Any]]) -> None:
        registry = self.client.registry
        try:
            registry.get_model(rec["name"])
        except NotFound:
            registry.create_model(rec["name"], description=rec["description"], tags=rec["tags"] or None)
            self.counts["models imported"] += 1
        mine = {
            v.tags[VERSION_TAG]: v.version
            for v in registry.search_versions(name=rec["name"], include_archived=True, max_results=50_000)
            if VERSION_TAG in v.tags
        }
        for v in versions:
            if v["version"] in mine or v["files"] is None:
                self.counts["versions already there"] += 1
                continue
            tags = {**v["tags"], VERSION_TAG: v["version"]}
            if v["model_id"]:
                tags[MODEL_ID_TAG] = v["model_id"]
            made = registry.create_version(
                rec["name"],
                v["source"],
                run_id=self.runs.get(v["run_id"] or ""),
                files=self._upload(self.root / v["files"]),
                description=v["description"],
                tags=tags,
                created_by=v["user_id"],
            )
            mine[v["version"]] = made.version
            self.counts["versions imported"] += 1
        current = {a.alias: a.version for a in registry.list_aliases(rec["name"])}
        for alias, version in rec["aliases"].items():
            target = mine.get(version)
            if target is not None and current.get(alias) != target:
                registry.set_alias(rec["name"], alias, target, actor="mlflow-import")
                self.counts["aliases imported"] += 1


def run_import(
    client: Client, source: str, python: str, progress: Progress, advance: Callable[[int, int], None]
) -> Counter[str]:
    """Export the MLflow store at ``source`` and import it; ``advance(done, total)`` reports progress."""
    with tempfile.TemporaryDirectory(prefix="treadle-mlflow-") as tmp:
        root = Path(tmp)
        uri = tracking_uri(source)
        progress("reading what earlier imports brought")
        records = list(export(python, uri, root, progress, already_imported(client)))
        importer = Importer(client, root)
        total, done = len(records), 0
        runs: dict[str, list[dict[str, Any]]] = {}
        versions: dict[str, list[dict[str, Any]]] = {}
        for rec in records:
            if rec["type"] == "run":
                runs.setdefault(rec["experiment_id"], []).append(rec)
            elif rec["type"] == "version":
                versions.setdefault(rec["name"], []).append(rec)
        for rec in records:
            if rec["type"] == "experiment":
                progress(f"experiment {rec['name']}")
                importer.experiment(rec)
                done += 1
                advance(done, total)
                for run in importer.ordered_runs(runs.get(rec["id"], [])):
                    progress(f"run {run['name']}")
                    importer.run(run)
                    done += 1
                    advance(done, total)
            elif rec["type"] == "model":
                progress(f"model {rec['name']}")
                mine = versions.get(rec["name"], [])
                importer.model(rec, mine)
                done += 1 + len(mine)
                advance(done, total)
        return importer.counts
