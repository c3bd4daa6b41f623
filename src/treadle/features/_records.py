"""Records the feature registry returns: stored entities and views, versions, apply reports."""

from __future__ import annotations

from typing import Any, Literal

from treadle.records import Record

Action = Literal["created", "updated", "unchanged"]


class EntityRecord(Record):
    name: str
    join_keys: list[str]
    description: str | None
    tags: dict[str, str]
    spec: dict[str, Any]
    created_at: int
    updated_at: int


class FeatureViewRecord(Record):
    """A feature view (or on-demand view) at one version; ``spec`` is its full definition."""

    name: str
    kind: str  # feature_view | on_demand_feature_view
    version: int
    latest_version: int
    entities: list[str]
    features: list[dict[str, str]]  # [{"name", "dtype"}]
    online: bool
    owner: str | None
    description: str | None
    tags: dict[str, str]
    spec: dict[str, Any]
    created_at: int
    updated_at: int


class FeatureViewVersion(Record):
    name: str
    version: int
    digest: str
    spec: dict[str, Any]
    created_at: int


class FieldChange(Record):
    """One changed field of a definition: ``path`` like ``ttl_seconds`` or ``schema[trips].dtype``."""

    path: str
    old: Any = None
    new: Any = None


class ObjectChange(Record):
    kind: str  # entity | feature_view | on_demand_feature_view
    name: str
    action: Action
    version: int | None = None  # the view version after apply (None for entities)
    changes: list[FieldChange] = []


class ApplyReport(Record):
    """What ``apply`` did (or, with ``dry_run``, would do), object by object."""

    dry_run: bool
    objects: list[ObjectChange]
    warnings: list[str] = []

    def names(self, action: Action) -> list[str]:
        return [o.name for o in self.objects if o.action == action]

    @property
    def created(self) -> list[str]:
        return self.names("created")

    @property
    def updated(self) -> list[str]:
        return self.names("updated")

    @property
    def unchanged(self) -> list[str]:
        return self.names("unchanged")
