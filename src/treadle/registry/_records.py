"""Records the registry takes and returns."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from treadle.artifacts import ArtifactFile
from treadle.records import Record

Approval = Literal["pending", "approved", "rejected"]
VersionStatus = Literal["PENDING", "READY", "FAILED"]


class RegisteredModel(Record):
    name: str
    description: str | None = None
    owner: str | None = None
    lifecycle: Literal["active", "archived"] = "active"
    created_at: int
    updated_at: int
    tags: dict[str, str] = Field(default_factory=dict)
    aliases: dict[str, int] = Field(default_factory=dict)  # alias -> version
    latest_version: int | None = None


class ModelVersion(Record):
    name: str
    version: int
    source: str
    run_id: str | None = None
    status: VersionStatus = "READY"
    status_message: str | None = None
    approval: Approval = "pending"
    approval_by: str | None = None
    approval_reason: str | None = None
    approval_at: int | None = None
    description: str | None = None
    flavor: str | None = None
    digest: str | None = None  # of the model's treadle-model.yaml manifest
    lifecycle: Literal["active", "archived"] = "active"
    created_by: str | None = None
    created_at: int
    updated_at: int
    tags: dict[str, str] = Field(default_factory=dict)
    aliases: list[str] = Field(default_factory=list)

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


class Alias(Record):
    name: str
    alias: str
    version: int | None
    protected: bool
    updated_at: int


class AliasMove(Record):
    """One change of an alias: ``from_version`` None means it was created, ``to_version`` None deleted."""

    name: str
    alias: str
    from_version: int | None
    to_version: int | None
    actor: str | None
    reason: str | None
    at: int


class VersionNeeds(Record):
    """What a version needs to run and what it was made from."""

    name: str
    version: int
    flavor: str | None
    python: str | None
    requirements: list[str]
    run_id: str | None
    inputs: list[dict[str, Any]]  # lineage nodes upstream of the producing run (datasets, features, files)


class DeleteReport(Record):
    versions: list[int]
    blobs_deleted: int


class ResolvedVersion(Record):
    """A version and its files in one answer: what loading a ``models:/`` URI needs."""

    version: ModelVersion
    files: list[ArtifactFile]
