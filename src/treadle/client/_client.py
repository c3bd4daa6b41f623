"""``td.Client``: explicit access to every service of one backend."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from treadle.access import AccessService
from treadle.artifacts import ArtifactFile, GcReport, clean_path, hash_file
from treadle.client._backend import Backend, get_backend, in_workspace
from treadle.client._files import dict_bytes, figure_bytes, table_bytes
from treadle.client._models import fetch, register, resolve
from treadle.config import Settings
from treadle.datasets import DatasetService
from treadle.errors import AlreadyExists, InvalidArgument, NotFound
from treadle.events import EventService
from treadle.features import FeatureService
from treadle.lineage import LineageService
from treadle.monitors import MonitorService
from treadle.orchestration import PipelineService, ScheduleService
from treadle.registry import Alias, AliasMove, ModelVersion, RegistryService, WebhookService
from treadle.rollout import RolloutService
from treadle.studies import StudyService
from treadle.tracking import ArtifactIn, Experiment, Metric, MetricSeries, Run, RunPage, TrackingService


class Client:
    """A handle on one treadle backend (``uri``: a database or ``http://host:port``).

    ``client.tracking``, ``client.lineage``, ``client.events`` and ``client.artifacts`` are the
    services themselves; the methods here are the common ones plus the artifact file transfers
    that combine the blob store with a manifest.
    """

    def __init__(
        self,
        uri: str | None = None,
        artifacts: str | None = None,
        token: str | None = None,
        workspace: str | None = None,
    ) -> None:
        settings = Settings()
        # The workspace becomes part of the URI (and blob root), so processes handed them stay in it.
        self.uri, self.artifacts_root = in_workspace(
            uri or settings.uri, artifacts or settings.artifacts, workspace or settings.workspace
        )
        self._backend: Backend = get_backend(self.uri, self.artifacts_root, token or settings.token)

    @property
    def workspace(self) -> str:
        """The workspace this client works in (``default``: the main store)."""
        return self._backend.workspace

    @property
    def access(self) -> AccessService:
        """Users, API tokens, workspaces and members, the audit log."""
        return self._backend.access

    @property
    def tracking(self) -> TrackingService:
        return self._backend.tracking

    @property
    def lineage(self) -> LineageService:
        return self._backend.lineage

    @property
    def events(self) -> EventService:
        return self._backend.events

    @property
    def registry(self) -> RegistryService:
        return self._backend.registry

    @property
    def webhooks(self) -> WebhookService:
        return self._backend.webhooks

    @property
    def datasets(self) -> DatasetService:
        return self._backend.datasets

    @property
    def features(self) -> FeatureService:
        return self._backend.features

    @property
    def rollout(self) -> RolloutService:
        return self._backend.rollout

    @property
    def pipelines(self) -> PipelineService:
        return self._backend.pipelines

    @property
    def schedules(self) -> ScheduleService:
        return self._backend.schedules

    @property
    def tuning(self) -> StudyService:
        return self._backend.tuning

    @property
    def monitors(self) -> MonitorService:
        return self._backend.monitors

    @property
    def artifacts(self) -> Any:
        return self._backend.artifacts

    @property
    def blobs(self) -> Any:
        return self._backend.blobs

    def __repr__(self) -> str:
        return f"Client({self.uri!r})"

    # -- experiments and runs
    def create_experiment(
        self, name: str, description: str | None = None, tags: dict[str, str] | None = None
    ) -> Experiment:
        return self.tracking.create_experiment(name, description, tags)

    def get_or_create_experiment(self, name: str) -> Experiment:
        try:
            return self.tracking.get_experiment_by_name(name)
        except NotFound:
            pass
        try:
            return self.tracking.create_experiment(name)
        except AlreadyExists:
            return self.tracking.get_experiment_by_name(name)  # created meanwhile by another process

    def get_run(self, run_id: str) -> Run:
        return self.tracking.get_run(run_id)

    def search_runs(
        self,
        experiment_ids: list[str] | None = None,
        filter: str | None = None,
        order_by: list[str] | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
    ) -> RunPage:
        return self.tracking.search_runs(experiment_ids, filter, order_by, max_results, page_token)

    def log_batch(
        self,
        run_id: str,
        metrics: list[Metric] | None = None,
        params: dict[str, Any] | None = None,
        tags: dict[str, Any] | None = None,
    ) -> int:
        return self.tracking.log_batch(
            run_id,
            metrics,
            {k: str(v) for k, v in (params or {}).items()} or None,
            {k: str(v) for k, v in (tags or {}).items()} or None,
        )

    def get_metric_history(self, run_id: str, key: str, max_points: int | None = None) -> MetricSeries:
        return self.tracking.get_metric_history(run_id, key, max_points)

    # -- artifacts
    def log_artifact(
        self, run_id: str, local_path: str | os.PathLike[str], artifact_path: str | None = None
    ) -> ArtifactFile:
        """Upload one file as ``<artifact_path>/<file name>`` of the run."""
        path = Path(local_path)
        if not path.is_file():
            raise InvalidArgument(f"{path} is not a file")
        target = f"{artifact_path.rstrip('/')}/{path.name}" if artifact_path else path.name
        return self._upload(run_id, [(clean_path(target), path)])[0]

    def log_artifacts(
        self, run_id: str, local_dir: str | os.PathLike[str], artifact_path: str | None = None
    ) -> list[ArtifactFile]:
        """Upload a directory tree under ``artifact_path``; identical files are stored once."""
        root = Path(local_dir)
        if not root.is_dir():
            raise InvalidArgument(f"{root} is not a directory")
        prefix = f"{artifact_path.rstrip('/')}/" if artifact_path else ""
        files = [
            (clean_path(prefix + p.relative_to(root).as_posix()), p) for p in sorted(root.rglob("*")) if p.is_file()
        ]
        return self._upload(run_id, files)

    def _upload(self, run_id: str, files: list[tuple[str, Path]]) -> list[ArtifactFile]:
        entries = []
        for target, path in files:
            info = self.blobs.put_file(path)
            entries.append(ArtifactIn(path=target, digest=info.digest, size=info.size))
        return self.tracking.add_artifacts(run_id, entries) if entries else []

    def log_bytes(self, run_id: str, data: bytes, artifact_file: str) -> ArtifactFile:
        target = clean_path(artifact_file)
        info = self.blobs.put_bytes(data)
        return self.tracking.add_artifacts(run_id, [ArtifactIn(path=target, digest=info.digest, size=info.size)])[0]

    def log_text(self, run_id: str, text: str, artifact_file: str) -> ArtifactFile:
        return self.log_bytes(run_id, text.encode(), artifact_file)

    def log_dict(self, run_id: str, data: Any, artifact_file: str) -> ArtifactFile:
        return self.log_bytes(run_id, dict_bytes(data, artifact_file), artifact_file)

    def log_figure(self, run_id: str, figure: Any, artifact_file: str) -> ArtifactFile:
        return self.log_bytes(run_id, figure_bytes(figure, artifact_file), artifact_file)

    def log_table(self, run_id: str, data: Any, artifact_file: str) -> ArtifactFile:
        return self.log_bytes(run_id, table_bytes(data, artifact_file), artifact_file)

    def list_artifacts(self, run_id: str, prefix: str = "") -> list[ArtifactFile]:
        return self.tracking.list_artifacts(run_id, prefix)

    def read_artifact(self, run_id: str, path: str) -> bytes:
        from treadle.tracking import run_manifest

        entry = self.artifacts.stat(run_manifest(run_id), path)
        return bytes(self.blobs.read_bytes(entry.digest))

    def download_artifacts(self, run_id: str, path: str = "", dst: str | os.PathLike[str] = ".") -> Path:
        """Download one file or a whole folder of the run's artifacts into ``dst``; returns the local path."""
        dest = Path(dst)
        files = self.list_artifacts(run_id)
        wanted = clean_path(path) if path else ""
        exact = [f for f in files if f.path == wanted]
        chosen = exact or [f for f in files if not wanted or f.path.startswith(wanted + "/")]
        if not chosen:
            raise NotFound(f"run {run_id} has no artifact {path!r}")
        for f in chosen:
            local = dest / f.path
            if not (local.is_file() and local.stat().st_size == f.size and hash_file(local).digest == f.digest):
                self.blobs.download(f.digest, local)
        return dest / wanted if wanted else dest

    def gc(self, dry_run: bool = True, grace_s: float = 3600.0) -> GcReport:
        return self.artifacts.gc(dry_run, grace_s)

    # -- models and the registry
    def log_model(self, run_id: str, model: Any, name: str = "model", **options: Any) -> str:
        """Save ``model`` (see :func:`treadle.models.save_model` for ``options``) as the run's ``name``
        folder; returns its ``runs:/`` URI."""
        import tempfile

        from treadle.models import save_model

        with tempfile.TemporaryDirectory(prefix="treadle-model-") as tmp:
            save_model(model, Path(tmp) / "model", **options)
            self.log_artifacts(run_id, Path(tmp) / "model", artifact_path=clean_path(name))
        return f"runs:/{run_id}/{clean_path(name)}"

    def load_model(self, model_uri: str, flavor: str | None = None, **options: Any) -> Any:
        """A uniform predictor for the model at ``model_uri`` (or, with ``flavor=``, the framework's object)."""
        from treadle.models import load_model

        # A registered version also pins the manifest digest it was registered with.
        resolved = resolve(self, model_uri) if model_uri.startswith("models:/") else None
        folder = fetch(self, model_uri, resolved)
        expected = resolved.version.digest if resolved else None
        return load_model(folder, flavor=flavor, expected_digest=expected, **options)

    def download_model(self, model_uri: str) -> Path:
        """A local folder with the model's files (verified, cached)."""
        return fetch(self, model_uri)

    def register_model(
        self, model_uri: str, name: str, description: str | None = None, tags: dict[str, Any] | None = None
    ) -> ModelVersion:
        """Register the model at ``model_uri`` (runs:/, models:/, a folder or a URL) as the next version of ``name``."""
        return register(self, model_uri, name, description, tags, _actor())

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        return self.registry.get_version(name, version)

    def get_model_version_by_uri(self, model_uri: str) -> ModelVersion:
        """The registry version ``models:/<name>/<version>`` or ``models:/<name>@<alias>`` names."""
        return resolve(self, model_uri).version

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        return self.registry.get_version_by_alias(name, alias)

    def set_alias(self, name: str, alias: str, version: int, reason: str | None = None) -> Alias:
        """Point ``alias`` at ``version``; the move is recorded with who and why."""
        return self.registry.set_alias(name, alias, version, actor=_actor(), reason=reason)

    def get_alias_history(self, name: str, alias: str | None = None) -> list[AliasMove]:
        return self.registry.get_alias_history(name, alias)


def _actor() -> str | None:
    import getpass

    try:
        return getpass.getuser()
    except Exception:
        return None
